import { ModelSwapError } from '../src/pipeline/model-swap-error.ts';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../src/core/command.ts';
import { ControlError } from '../src/control/control-error.ts';
import { DecodeError } from '../src/decode/decode-error.ts';
import { ERROR_CATALOGUE, renderErrorDocs } from '../src/errors-catalogue.ts';
import { ConfigError } from '../src/errors.ts';
import { FlowConfigError } from '../src/flows/errors.ts';
import { DatasetError, ManifestError, ModelFileError, ModelInputError, UnsupportedOperatorError } from '../src/model/errors.ts';
import { InfluxWriteError, InvalidPointError, MqttPublishError, SinkClosedError } from '../src/sinks/sink-errors.ts';
import { sourceRefused, sourceUnavailable } from '../src/sources/source-errors.ts';
import { srcFiles } from './architecture/src-files.ts';
import { TrainingToolkitError } from '../src/cli/training-python.ts';

const files = srcFiles().filter((file) => file.path !== 'errors-catalogue.ts');
const catalogued = new Map(ERROR_CATALOGUE.map((entry) => [entry.code, entry]));

/** Quoted `EDGEKE_*` literals in src/: error codes. Environment variable names (`env['EDGEKE_…']`) are not codes. */
function codeLiterals(text: string): string[] {
  return [...text.matchAll(/(?<!env\[\s*)(['"`])(EDGEKE_[A-Z0-9_]+)\1/g)].map((match) => match[2] as string);
}

/** Classes in src/ that extend EdgekeError, directly or through another error class. */
function edgekeErrorClasses(): Set<string> {
  const extensions = files.flatMap((file) => [...file.text.matchAll(/class (\w+) extends (\w+)/g)].map((match) => [match[1] as string, match[2] as string] as const));
  const classes = new Set(['EdgekeError']);
  for (let grown = true; grown; ) {
    grown = false;
    for (const [name, parent] of extensions) {
      if (classes.has(parent) && !classes.has(name)) grown = classes.add(name) !== undefined;
    }
  }
  classes.delete('EdgekeError');
  return classes;
}

describe('error-code catalogue', () => {
  it('lists each code once, with its meaning and what to do', () => {
    expect(catalogued.size).toBe(ERROR_CATALOGUE.length);
    for (const entry of ERROR_CATALOGUE) {
      expect(entry.code).toMatch(/^EDGEKE_[A-Z0-9_]+$/);
      expect(entry.meaning.length, entry.code).toBeGreaterThan(20);
      expect(entry.action.length, entry.code).toBeGreaterThan(10);
    }
  });

  it('lists every code used in src/, and no code that src/ no longer uses', () => {
    const used = new Set(files.flatMap((file) => codeLiterals(file.text)));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((code) => !catalogued.has(code)), 'codes missing from src/errors-catalogue.ts').toEqual([]);
    expect([...catalogued.keys()].filter((code) => !used.has(code)), 'catalogued codes no longer used').toEqual([]);
  });

  it('names every error class in src/, and only classes that exist', () => {
    const named = new Set(ERROR_CATALOGUE.flatMap((entry) => entry.errorClass.split(', ')));
    expect([...edgekeErrorClasses()].filter((name) => !named.has(name)), 'error classes missing from the catalogue').toEqual([]);
    for (const name of named) expect(files.some((file) => file.text.includes(`class ${name} `)), name).toBe(true);
  });

  it("agrees with each error's code and retryable flag", () => {
    const errors = [
      new ConfigError('x'),
      new FlowConfigError([{ file: 'f.yaml', path: 'source', message: 'x' }]),
      new UsageError('x'),
      new ManifestError('manifest.json', 'x'),
      new ModelFileError('stage1.onnx', 'x'),
      new UnsupportedOperatorError('stage1.onnx', 'Einsum', 'n1'),
      new ModelInputError('x'),
      new DatasetError('test.idx', 'x'),
      new DecodeError('bad-json', 'x'),
      new ControlError('EDGEKE_CONTROL_MODEL', 'x'),
      new ControlError('EDGEKE_CONTROL_PROFILE', 'x'),
      new ControlError('EDGEKE_CONTROL_STAGE', 'x'),
      new ControlError('EDGEKE_CONTROL_OPTIONS', 'x'),
      sourceRefused('x'),
      sourceUnavailable('x'),
      new InfluxWriteError('x', true),
      new InfluxWriteError('x', false, 400),
      new InvalidPointError('x'),
      new SinkClosedError('x'),
      new MqttPublishError('x'),
      new TrainingToolkitError('x'),
      new ModelSwapError('load-failed', 'models/x', 'x'),
    ];
    for (const error of errors) {
      const entry = catalogued.get(error.code);
      expect(entry, error.code).toBeDefined();
      expect(entry?.retryable, error.code).toBe(error.retryable);
      expect(entry?.errorClass.split(', '), error.code).toContain(error.constructor.name);
    }
    expect(new Set(errors.map((error) => error.code))).toEqual(new Set(catalogued.keys()));
  });

  it('finds codes the way src/ writes them, and skips environment variable names', () => {
    expect(codeLiterals(`super('EDGEKE_A', m, false); x ? "EDGEKE_B" : \`EDGEKE_C\`; process.env['EDGEKE_PORT']; \`EDGEKE_CONTROL_\${string}\``)).toEqual(['EDGEKE_A', 'EDGEKE_B', 'EDGEKE_C']);
  });

  it('is what docs/errors.md says', () => {
    const committed = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    expect(committed === renderErrorDocs(), 'docs/errors.md is stale: run `npm run docs:errors`').toBe(true);
  });
});

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestError, ModelFileError, UnsupportedOperatorError } from '../../src/model/errors.ts';
import { loadModel, modelHash } from '../../src/model/load-model.ts';
import { parseManifest, readManifest } from '../../src/model/manifest.ts';
import { IMAGE_MODEL, SIGNAL_MODEL, UNSUPPORTED_OP_MODEL } from './fixtures.ts';

const temps: string[] = [];
afterEach(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function copyOf(dir: string): string {
  const copy = mkdtempSync(join(tmpdir(), 'edgeke-model-'));
  temps.push(copy);
  cpSync(dir, copy, { recursive: true });
  return copy;
}

function editManifest(dir: string, edit: (m: Record<string, unknown>) => void): void {
  const file = join(dir, 'manifest.json');
  const json = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  writeFileSync(file, JSON.stringify(json));
}

describe('manifest', () => {
  it('parses the fixture manifests', async () => {
    const image = await readManifest(IMAGE_MODEL);
    expect(image.stages).toHaveLength(3);
    expect(image.input.preprocessing.kind).toBe('image');
    expect((await readManifest(SIGNAL_MODEL)).input.layout).toBe('NCL');
  });

  it('names the file when manifest.json is missing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-empty-'));
    temps.push(dir);
    const error = await readManifest(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ManifestError);
    expect(error).toMatchObject({ code: 'EDGEKE_MODEL_MANIFEST', retryable: false });
    expect((error as Error).message).toContain(join(dir, 'manifest.json'));
    expect((error as Error).message).toContain('not found');
  });

  it('rejects invalid JSON', async () => {
    const dir = copyOf(IMAGE_MODEL);
    writeFileSync(join(dir, 'manifest.json'), '{"format": ');
    await expect(readManifest(dir)).rejects.toThrow(/manifest\.json: is not valid JSON/);
  });

  it('lists every problem with its path', () => {
    const json = JSON.parse(readFileSync(join(IMAGE_MODEL, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const bad = { ...json, format: 'other/2', vote: { weights: [1] }, classes: ['only-one'] };
    expect(() => parseManifest(bad, 'm.json')).toThrow(ManifestError);
    try {
      parseManifest(bad, 'm.json');
    } catch (error) {
      const message = (error as Error).message;
      expect(message).toMatch(/^m\.json: /);
      expect(message).toContain('format:');
      expect(message).toContain('classes:');
    }
  });

  it('checks cross-field rules: stage order, one exit per stage, vote weights, input shape', () => {
    const json = JSON.parse(readFileSync(join(IMAGE_MODEL, 'manifest.json'), 'utf8')) as {
      stages: { index: number }[];
      exits: unknown[];
      vote: { weights: number[] };
      input: { shape: number[] };
    };
    json.stages[1]!.index = 5;
    json.vote.weights = [1];
    json.input.shape = [1, 8, 8];
    json.exits = json.exits.slice(0, 2);
    const message = (() => {
      try {
        parseManifest(json, 'm.json');
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toContain('stages.1.index: expected 2');
    expect(message).toContain('vote.weights');
    expect(message).toContain('input.shape: expected [1, 16, 16]');
    expect(message).toContain('exits: expected one exit per stage');
  });
});

describe('manifest stopLoss', () => {
  const base = (): Record<string, unknown> => JSON.parse(readFileSync(join(IMAGE_MODEL, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const entry = { exit: 1, level: '0.95', laterExit: 3, frames: 40, loss: 0.02, disagreement: 0.05 };
  const problems = (stopLoss: unknown): string => {
    try {
      parseManifest({ ...base(), stopLoss }, 'm.json');
      return '';
    } catch (error) {
      return (error as Error).message;
    }
  };

  it('is optional, and parsed when present', () => {
    expect(parseManifest(base(), 'm.json').stopLoss).toBeUndefined();
    expect(parseManifest({ ...base(), stopLoss: [entry] }, 'm.json').stopLoss).toEqual([entry]);
  });

  it.each([
    { name: 'a later exit that is not later', bad: { ...entry, laterExit: 1 }, expected: 'stopLoss.0: expected exit < laterExit' },
    { name: 'a later exit beyond the last', bad: { ...entry, laterExit: 9 }, expected: 'stopLoss.0: expected exit < laterExit' },
    { name: 'a loss above its disagreement', bad: { ...entry, loss: 0.1 }, expected: 'stopLoss.0.loss' },
    { name: 'an unknown level', bad: { ...entry, level: '0.80' }, expected: 'stopLoss.0.level' },
  ])('rejects $name', ({ bad, expected }) => {
    expect(problems([bad])).toContain(expected);
  });
});

describe.each(['onnx', 'tfjs'] as const)('loading with the %s engine', (engine) => {
  it('loads a model folder', async () => {
    const model = await loadModel(IMAGE_MODEL, { engine });
    expect(model.engine.name).toBe(engine);
    await model.close();
  });

  it('names a missing stage file', async () => {
    const dir = copyOf(IMAGE_MODEL);
    rmSync(join(dir, 'stage2.onnx'));
    const error = await loadModel(dir, { engine }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect(error).toMatchObject({ code: 'EDGEKE_MODEL_FILE', retryable: false });
    expect((error as Error).message).toContain(join(dir, 'stage2.onnx'));
    expect((error as Error).message).toContain('not found');
  });

  it('names a corrupt stage file', async () => {
    const dir = copyOf(IMAGE_MODEL);
    writeFileSync(join(dir, 'stage3.onnx'), Buffer.from('this is not an onnx file at all'));
    const error = await loadModel(dir, { engine }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelFileError);
    expect((error as Error).message).toContain(join(dir, 'stage3.onnx'));
  });

  it('names a stage whose input name differs from the manifest', async () => {
    const dir = copyOf(IMAGE_MODEL);
    editManifest(dir, (m) => {
      ((m.stages as { inputs: { name: string }[] }[])[1]!.inputs[0]!).name = 'wrong_name';
    });
    await expect(loadModel(dir, { engine })).rejects.toThrow(/stage2\.onnx.*wrong_name/);
  });
});

describe('operators outside the model format', () => {
  it('tfjs names the operator, the node and the file', async () => {
    const error = await loadModel(UNSUPPORTED_OP_MODEL, { engine: 'tfjs' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnsupportedOperatorError);
    expect(error).toMatchObject({ code: 'EDGEKE_MODEL_UNSUPPORTED_OP', opType: 'Tanh' });
    expect((error as Error).message).toContain(join(UNSUPPORTED_OP_MODEL, 'stage2.onnx'));
    expect((error as Error).message).toContain('Tanh');
  });
});

describe('modelHash', () => {
  it('is stable, and changes when a stage file changes', async () => {
    const dir = copyOf(IMAGE_MODEL);
    const manifest = await readManifest(dir);
    const before = await modelHash(dir, manifest);
    expect(await modelHash(dir, manifest)).toBe(before);
    const stage = readFileSync(join(dir, 'stage3.onnx'));
    stage[stage.length - 1] = (stage[stage.length - 1] ?? 0) ^ 1;
    writeFileSync(join(dir, 'stage3.onnx'), stage);
    expect(await modelHash(dir, manifest)).not.toBe(before);
  });
});

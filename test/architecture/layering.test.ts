import { posix } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { srcFiles } from './src-files.ts';

/**
 * The import layering of src/ (docs/architecture.md). A part is a top-level folder of src/ or a file directly in it.
 * A module may import its own part and any part of a lower layer. Parts of the domain layer may import each other
 * as long as no two folders import each other, directly or round a cycle. Parts of the front-end layer never import
 * each other: the CLI and the demo are siblings, and only the entry (src/edgeke.ts) sees both.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts', 'errors-catalogue.ts', 'config', 'core'],
  ['broker', 'control', 'decode', 'flows', 'model', 'simulators', 'sinks', 'sources', 'telemetry'],
  ['pipeline'],
  ['cli', 'demo'],
  ['edgeke.ts'],
];
const DOMAIN_LAYER = 1;

function layerOf(part: string): number | undefined {
  const layer = LAYERS.findIndex((parts) => parts.includes(part));
  return layer === -1 ? undefined : layer;
}

function partOf(srcPath: string): string {
  return srcPath.split('/')[0] as string;
}

interface SrcImport {
  from: string;
  to: string;
}

/** The src/-relative imports of a module (static, type-only, re-exports and dynamic `import()`), resolved to src/ paths. */
function importsOf(path: string, text: string): SrcImport[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((file) => file.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => ({ from: path, to: posix.normalize(posix.join(posix.dirname(path), name)) }));
}

/** Why an import breaks the layering, or undefined when it is allowed. */
function violation({ from, to }: SrcImport): string | undefined {
  if (to.startsWith('../')) return `${from} imports ${to}, outside src/`;
  const fromPart = partOf(from);
  const toPart = partOf(to);
  if (fromPart === toPart) return undefined;
  const fromLayer = layerOf(fromPart);
  const toLayer = layerOf(toPart);
  if (fromLayer === undefined) return `${from}: src/${fromPart} has no layer in LAYERS (add it, and to docs/architecture.md)`;
  if (toLayer === undefined) return `${to}: src/${toPart} has no layer in LAYERS (add it, and to docs/architecture.md)`;
  if (toLayer < fromLayer) return undefined;
  if (toLayer === fromLayer && fromLayer === DOMAIN_LAYER) return undefined;
  return `${from} imports ${to}: ${fromPart} (layer ${fromLayer}) may not import ${toPart} (layer ${toLayer})`;
}

/** Folder cycles among domain parts, each as `a -> b -> a`. */
function domainCycles(imports: readonly SrcImport[]): string[] {
  const edges = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    const [a, b] = [partOf(from), partOf(to)];
    if (a === b || layerOf(a) !== DOMAIN_LAYER || layerOf(b) !== DOMAIN_LAYER) continue;
    edges.set(a, (edges.get(a) ?? new Set()).add(b));
  }
  const cycles: string[] = [];
  const visit = (part: string, trail: string[]): void => {
    for (const next of edges.get(part) ?? []) {
      if (next === trail[0]) cycles.push([...trail, next].join(' -> '));
      else if (!trail.includes(next) && next > (trail[0] as string)) visit(next, [...trail, next]);
    }
  };
  for (const part of edges.keys()) visit(part, [part]);
  return cycles;
}

describe('src/ import layering', () => {
  const files = srcFiles();
  const imports = files.flatMap((file) => importsOf(file.path, file.text));

  it('finds the modules and their imports (the walk itself works)', () => {
    expect(files.length).toBeGreaterThan(50);
    expect(imports).toContainEqual({ from: 'edgeke.ts', to: 'demo/demo-command.ts' });
    expect(imports).toContainEqual({ from: 'pipeline/start-service.ts', to: 'telemetry/telemetry.ts' });
  });

  it('has no import that runs back up a layer', () => {
    expect(imports.map(violation).filter((problem) => problem !== undefined)).toEqual([]);
  });

  it('has no cycle between domain folders', () => {
    expect(domainCycles(imports)).toEqual([]);
  });

  it('rejects the imports the layering forbids', () => {
    for (const [from, to] of [
      ['model/cli-options.ts', 'cli/command.ts'],
      ['core/frame.ts', 'decode/decoder.ts'],
      ['control/admission.ts', 'pipeline/service.ts'],
      ['sinks/x.ts', 'demo/run-demo.ts'],
      ['pipeline/service.ts', 'cli/dispatch.ts'],
      ['demo/run-demo.ts', 'cli/start-service.ts'],
      ['cli/commands/demo.ts', 'demo/run-demo.ts'],
      ['cli/x.ts', 'edgeke.ts'],
      ['newfolder/x.ts', 'core/frame.ts'],
    ] as const) {
      expect(violation({ from, to }), `${from} -> ${to}`).toBeDefined();
    }
    expect(violation({ from: 'cli/commands/run.ts', to: 'pipeline/start-service.ts' })).toBeUndefined();
    expect(violation({ from: 'sinks/x.ts', to: 'flows/schema.ts' })).toBeUndefined();
    expect(domainCycles([{ from: 'model/a.ts', to: 'decode/b.ts' }, { from: 'decode/b.ts', to: 'sinks/c.ts' }, { from: 'sinks/c.ts', to: 'model/d.ts' }])).toEqual(['decode -> sinks -> model -> decode']);
  });
});

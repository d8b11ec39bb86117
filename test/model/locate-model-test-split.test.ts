import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openTestSet } from '../../src/model/datasets/locate.ts';
import { readManifest, type Manifest } from '../../src/model/manifest.ts';
import { SIGNAL_MODEL } from './fixtures.ts';

// `edgeke train` writes its held-out test split into the model folder (test/) and names it in dataset.test with a
// relative path: eval finds it there first, and still finds a repository-relative path where the folder has none.
describe('dataset.test paths', () => {
  const root = mkdtempSync(join(tmpdir(), 'edgeke-locate-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  const segments = (dir: string, windows: number, classes: readonly string[]): void => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'a.f32'), Buffer.from(new Float32Array(256 * windows).map((_, i) => Math.sin(i)).buffer));
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ evaluation: { windowLength: 256, hop: 256 }, segments: [{ file: 'a.f32', class: classes[0] }] }));
  };

  it('takes a relative path inside the model folder first, else from the repository root', async () => {
    const fixture = await readManifest(SIGNAL_MODEL);
    const manifest: Manifest = { ...fixture, dataset: { test: { kind: 'signal-segments', index: 'test/index.json' } } };
    const modelDir = join(root, 'models', 'mine');
    segments(join(root, 'test'), 2, fixture.classes); // what the repository root (the model folder's grandparent) holds
    mkdirSync(modelDir, { recursive: true });
    expect((await openTestSet(modelDir, manifest)).size).toBe(2);
    segments(join(modelDir, 'test'), 5, fixture.classes); // the model folder's own split wins
    const inModel = await openTestSet(modelDir, manifest);
    expect(inModel.size).toBe(5);
    expect(inModel.description).toContain(join(modelDir, 'test', 'index.json'));
  });
});

import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/edgeke.ts';
import type { LatencyProfile } from '../../src/model/profile-types.ts';
import type { FeatureBatch, InferenceEngine } from '../../src/model/engines/engine.ts';
import type { LoadedModel } from '../../src/model/load-model.ts';
import type { Manifest } from '../../src/model/manifest.ts';
import { batchSizesUpTo, loadOrMeasureProfile, measureProfile, quantile } from '../../src/model/profiler.ts';
import { IMAGE_MODEL } from './fixtures.ts';

const cacheDir = mkdtempSync(join(tmpdir(), 'edgeke-profiles-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

function capture(): { stream: NodeJS.WritableStream; text: () => string } {
  const chunks: string[] = [];
  return { stream: { write: (c: string) => chunks.push(c) } as unknown as NodeJS.WritableStream, text: () => chunks.join('') };
}

describe('profiler', () => {
  it('measures powers of two up to the maximum batch', () => {
    expect(batchSizesUpTo(32)).toEqual([1, 2, 4, 8, 16, 32]);
    expect(batchSizesUpTo(12)).toEqual([1, 2, 4, 8, 12]);
    expect(batchSizesUpTo(1)).toEqual([1]);
  });

  it('interpolates quantiles like numpy', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([0, 10], 0.95)).toBe(9.5);
  });

  it('a burst of other work during profiling inflates no cell: each cell is timed in blocks spread over sweeps', async () => {
    // Virtual time: stage s at batch b costs (s + 1) * b ms, six times that while a burst of other work runs. A sweep
    // times every cell in a block of 5 runs (2 untimed): 675 ms of work; the burst lasts 900 ms, 150 ms of work, all
    // inside one sweep, so it reaches one block of a few cells: at most 3 of a cell's 7 samples. Measured one cell
    // after another, every sample of the cells in it would be six times too slow.
    let clock = 0;
    const costMs = (stage: number, batchSize: number): number => (stage + 1) * batchSize;
    const inBurst = (): boolean => clock >= 600 && clock < 1500;
    const features = (batchSize: number): FeatureBatch => ({ engine: 'onnx', batchSize });
    const engine: InferenceEngine = {
      name: 'onnx',
      backend: 'virtual',
      runStage: (stage, _input, batchSize) => {
        clock += costMs(stage, batchSize) * (inBurst() ? 6 : 1);
        return Promise.resolve({ logits: new Float32Array(batchSize), ...(stage < 3 ? { features: features(batchSize) } : {}) });
      },
      selectRows: (_f, rows) => features(rows.length),
      release: () => {},
      close: () => Promise.resolve(),
    };
    const manifest = { stages: [{}, {}, {}], input: { shape: [1, 2, 2] } } as unknown as Manifest;
    const model: LoadedModel = { dir: '/virtual', manifest, engine, close: () => Promise.resolve() };
    const entries = await measureProfile(model, { maxBatch: 8, repeats: 7, warmup: 2, now: () => clock });
    expect(entries).toHaveLength(12);
    for (const entry of entries) expect(entry.medianMs).toBe(costMs(entry.stage, entry.batchSize));
    // The burst is there: it shows in the tails.
    expect(entries.some((entry) => entry.p95Ms > 3 * entry.medianMs)).toBe(true);
  });

  it('measures every stage at every batch size, then serves the cache', async () => {
    const first = await loadOrMeasureProfile(IMAGE_MODEL, { maxBatch: 4, repeats: 3, warmup: 1, cacheDir });
    expect(first.cached).toBe(false);
    expect(first.profile.entries.map((e) => [e.stage, e.batchSize])).toEqual([
      [1, 1], [1, 2], [1, 4], [2, 1], [2, 2], [2, 4], [3, 1], [3, 2], [3, 4],
    ]);
    for (const e of first.profile.entries) {
      expect(e.samples).toBe(3);
      expect(e.medianMs).toBeGreaterThan(0);
      expect(e.p95Ms).toBeGreaterThanOrEqual(e.medianMs);
    }
    const again = await loadOrMeasureProfile(IMAGE_MODEL, { maxBatch: 2, repeats: 3, cacheDir });
    expect(again.cached).toBe(true);
    expect(again.profile.key).toBe(first.profile.key);
    // A different thread count or engine is a different profile.
    const threads = await loadOrMeasureProfile(IMAGE_MODEL, { maxBatch: 2, repeats: 2, warmup: 1, threads: 2, cacheDir });
    expect(threads.cached).toBe(false);
    expect(threads.profile.key).not.toBe(first.profile.key);
    expect(readdirSync(cacheDir).filter((f) => f.endsWith('.json'))).toHaveLength(2);
  });

  it('edgeke profile prints a table with progress on stderr, or JSON', async () => {
    const out = capture();
    const err = capture();
    const args = ['profile', IMAGE_MODEL, '--engine', 'tfjs', '--max-batch', '2', '--repeats', '2', '--cache-dir', cacheDir];
    expect(await main(args, { stdout: out.stream, stderr: err.stream })).toBe(0);
    expect(err.text()).toContain('profile: 6/6 stage 3 batch 2');
    expect(out.text()).toMatch(/stage\s+b=1\s+b=2/);
    const json = capture();
    expect(await main([...args, '--json'], { stdout: json.stream, stderr: capture().stream })).toBe(0);
    const profile = JSON.parse(json.text()) as LatencyProfile;
    expect(profile.engine).toBe('tfjs');
    expect(profile.entries).toHaveLength(6);
  });

  it('edgeke profile reports a bad model folder and exits 1', async () => {
    const err = capture();
    expect(await main(['profile', cacheDir, '--cache-dir', cacheDir], { stdout: capture().stream, stderr: err.stream })).toBe(1);
    expect(err.text()).toContain('manifest.json: not found');
  });
});

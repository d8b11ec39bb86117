import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../src/edgeke.ts';
import type { LatencyProfile } from '../../src/model/profile-types.ts';
import { batchSizesUpTo, loadOrMeasureProfile, quantile } from '../../src/model/profiler.ts';
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

/** Timing helpers for the benchmarks: medians of repeated async calls, with a time budget per measurement. */

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export interface Contender {
  name: string;
  run: () => Promise<unknown>;
}

/**
 * Times contenders doing the same work, interleaved and in an order that alternates (a b, b a, a b, ...) so drift and
 * cache effects on a shared machine hit them alike. One sample = `inner` back-to-back calls (enough for ~2 ms, so
 * timer resolution and scheduling noise do not dominate sub-millisecond calls), reported per call. Repeats:
 * `repeats`, fewer when a round would exceed the budget (at least `minRepeats`). Returns the median ms per call and
 * the per-round samples (sample i of every contender comes from the same round, for paired ratios).
 */
export async function timeInterleaved(
  contenders: readonly Contender[],
  options: { warmup: number; repeats: number; minRepeats?: number; budgetMs: number },
): Promise<Map<string, { medianMs: number; samples: number[]; callsPerSample: number }>> {
  for (let i = 0; i < options.warmup; i++) for (const c of contenders) await c.run();
  let slowest = 0;
  for (const c of contenders) {
    const t = performance.now();
    await c.run();
    slowest = Math.max(slowest, performance.now() - t);
  }
  const inner = Math.max(1, Math.ceil(2 / Math.max(slowest, 1e-3)));
  const roundMs = slowest * inner * contenders.length;
  const repeats = Math.max(options.minRepeats ?? 5, Math.min(options.repeats, Math.floor(options.budgetMs / Math.max(roundMs, 1e-3))));
  const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  for (let i = 0; i < repeats; i++) {
    const order = i % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) {
      const t = performance.now();
      for (let k = 0; k < inner; k++) await c.run();
      samples.get(c.name)?.push((performance.now() - t) / inner);
    }
  }
  return new Map([...samples].map(([name, s]) => [name, { medianMs: median(s), samples: s, callsPerSample: inner }]));
}

/**
 * Median over rounds of a[i] / b[i]: the ratio of two contenders timed side by side. Slow drift cancels within a
 * round, and a round where another process preempted one side is an outlier the median ignores.
 */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return median(a.map((x, i) => x / (b[i] as number)));
}

/** The q-quantile (nearest rank) of values. */
export function quantileOf(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))] as number;
}

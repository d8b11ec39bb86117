import type { StageLatencyProfileEntry } from '../../src/model/profile-types.ts';
import type { ExitPolicy } from '../../src/control/exit-policy.ts';
import type { ModelView } from '../../src/control/model-view.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

export { seededRandom };

/** Per-stage median at batch 1 (ms); cumulative exits cost 2, 5, 9, 15 ms. */
export const STAGE_MS = [2, 3, 4, 6] as const;

/** A batch of n costs (0.6 + 0.4·n) × the batch-1 time: a fixed part plus a per-frame part. */
export function batchFactor(batchSize: number): number {
  return 0.6 + 0.4 * batchSize;
}

export function profile(p95OverMedian = 1.1, batchSizes: readonly number[] = [1, 2, 4, 8]): StageLatencyProfileEntry[] {
  return STAGE_MS.flatMap((ms, i) =>
    batchSizes.map((batchSize) => ({
      stage: i + 1,
      batchSize,
      medianMs: ms * batchFactor(batchSize),
      p95Ms: ms * batchFactor(batchSize) * p95OverMedian,
      samples: 50,
    })),
  );
}

export const MODEL: ModelView = {
  exits: [
    { index: 1, stage: 1, validationAccuracy: 0.8, thresholds: { '0.90': 0.9, '0.95': 0.97, '0.99': null } },
    { index: 2, stage: 2, validationAccuracy: 0.88, thresholds: { '0.90': 0.8, '0.95': 0.9, '0.99': 0.99 } },
    { index: 3, stage: 3, validationAccuracy: 0.93, thresholds: { '0.90': 0.6, '0.95': 0.8, '0.99': 0.95 } },
    { index: 4, stage: 4, validationAccuracy: 0.95, thresholds: { '0.90': 0.5, '0.95': 0.7, '0.99': 0.9 } },
  ],
  vote: { beatsLastExit: true, validationAccuracy: 0.955 },
};

export function policy(overrides: Partial<ExitPolicy> = {}): ExitPolicy {
  return {
    mode: 'deadline',
    deadlineMs: 20,
    accuracyTarget: 0.9,
    confidenceStop: 'none',
    confidenceStopWhen: 'always',
    vote: false,
    latePolicy: 'shed',
    riskQuantile: 0.5,
    cpuWeight: 1,
    ...overrides,
  };
}

/** Standard normal sample (Box–Muller). */
export function gaussian(random: () => number): number {
  const u = Math.max(random(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

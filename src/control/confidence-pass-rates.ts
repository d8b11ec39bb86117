import { CONFIDENCE_LEVELS as LEVELS, type ConfidenceLevel, type ModelView } from './model-view.ts';

/** What the planner reads: of the frames that reach exit k unconfident so far, the share that passes there. */
export interface ConfidencePassRates {
  passRate(exitIndex: number, level: ConfidenceLevel): number;
}

/**
 * Learns, per exit and confidence level, how often a frame that reaches the exit without having passed an earlier
 * one passes this exit's calibrated threshold: the share of frames a confidence stop takes off the later stages.
 * The planner uses it to predict the work of a batch whose frames may stop early, so a busy machine still runs the
 * unconfident frames deeper instead of capping everyone at exit 1.
 *
 * Counts decay (about the last `window` frames), so a shift in the input (a new product, a dirty lens) shows within
 * seconds. Until `minFrames` frames reached an exit its rate reads 0: no frame is assumed to stop early, the safe side.
 */
export class ConfidencePassRateEstimator implements ConfidencePassRates {
  private readonly reached: Float64Array;
  private readonly passed: Float64Array;
  /** Frames that reached each exit, not decayed: the minimum is about evidence, not recency. */
  private readonly seen: Uint32Array;
  private readonly decay: number;
  private readonly minFrames: number;

  constructor(
    private readonly model: ModelView,
    options: { window?: number; minFrames?: number } = {},
  ) {
    this.reached = new Float64Array(model.exits.length * LEVELS.length);
    this.passed = new Float64Array(model.exits.length * LEVELS.length);
    this.seen = new Uint32Array(model.exits.length * LEVELS.length);
    this.decay = 1 - 1 / Math.max(1, options.window ?? 500);
    this.minFrames = options.minFrames ?? 20;
  }

  /** One frame's confidences at the exits it ran, shallowest first (index 0 = exit 1). */
  observe(confidences: readonly number[]): void {
    LEVELS.forEach((level, l) => {
      for (let k = 0; k < confidences.length && k < this.model.exits.length; k++) {
        const cell = k * LEVELS.length + l;
        this.reached[cell] = (this.reached[cell] ?? 0) * this.decay + 1;
        this.passed[cell] = (this.passed[cell] ?? 0) * this.decay;
        this.seen[cell] = Math.min((this.seen[cell] ?? 0) + 1, 0xffffffff);
        const threshold = this.model.exits[k]?.thresholds[level];
        if (threshold !== null && threshold !== undefined && (confidences[k] ?? 0) >= threshold) {
          this.passed[cell] = (this.passed[cell] ?? 0) + 1;
          // Frames that passed here would have stopped here: later exits count only the ones that did not.
          return;
        }
      }
    });
  }

  /**
   * For one batch of `size` frames: `decide` wraps the runner's per-exit decider so it also notes each frame's
   * confidence, exit by exit; `learn()` observes them all once the batch has run.
   */
  observeBatch<Rest extends unknown[], Decision>(
    size: number,
    decider: (frameIndex: number, exitIndex: number, confidence: number, ...rest: Rest) => Decision,
  ): { decide: (frameIndex: number, exitIndex: number, confidence: number, ...rest: Rest) => Decision; learn: () => void } {
    const seen: number[][] = Array.from({ length: size }, () => []);
    return {
      decide: (frameIndex, exitIndex, confidence, ...rest) => {
        seen[frameIndex]?.push(confidence);
        return decider(frameIndex, exitIndex, confidence, ...rest);
      },
      learn: () => {
        for (const confidences of seen) this.observe(confidences);
      },
    };
  }

  passRate(exitIndex: number, level: ConfidenceLevel): number {
    const cell = (exitIndex - 1) * LEVELS.length + LEVELS.indexOf(level);
    if (!((this.seen[cell] ?? 0) >= this.minFrames)) return 0;
    return (this.passed[cell] ?? 0) / (this.reached[cell] ?? 1);
  }
}

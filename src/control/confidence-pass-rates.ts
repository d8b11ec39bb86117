import { CONFIDENCE_LEVELS as LEVELS, type ConfidenceLevel, type ModelView } from './model-view.ts';

/** What the planner reads: of the frames that reach exit k unconfident so far, the share that passes there. */
export interface ConfidencePassRates {
  passRate(exitIndex: number, level: ConfidenceLevel): number;
  /**
   * Of the frames that passed exit k's threshold first and still ran on to exit `laterExit`, the share answered
   * differently there: a label-free upper bound on what stopping them at k costs against running them to laterExit.
   * NaN until known.
   */
  disagreement?(exitIndex: number, level: ConfidenceLevel, laterExit: number): number;
}

/** One frame's answers at the exits it ran, shallowest first (a runner's FrameAnswer fits). */
export interface AnsweredFrame {
  exits: readonly { confidence: number; classIndex: number }[];
}

/**
 * Learns, per exit and confidence level, how often a frame that reaches the exit without having passed an earlier
 * one passes this exit's calibrated threshold: the share of frames a confidence stop takes off the later stages.
 * The planner uses it to predict the work of a batch whose frames may stop early, so a busy machine still runs the
 * unconfident frames deeper instead of capping everyone at exit 1. From the answers, it also learns how often a
 * frame confident at exit k answered differently at each later exit it ran: what stopping it at k would cost.
 *
 * Counts decay (about the last `window` frames), so a shift in the input (a new product, a dirty lens) shows within
 * seconds. Until `minFrames` frames reached an exit its rate reads 0: no frame is assumed to stop early, the safe side.
 */
export class ConfidencePassRateEstimator implements ConfidencePassRates {
  private readonly reached: Float64Array;
  private readonly passed: Float64Array;
  /** Frames that reached each exit, not decayed: the minimum is about evidence, not recency. */
  private readonly seen: Uint32Array;
  /**
   * Per (exit passed first, later exit reached, level): frames that ran on that far (decayed, and not), and those
   * answered differently there.
   */
  private readonly ranOn: Float64Array;
  private readonly ranOnSeen: Uint32Array;
  private readonly disagreed: Float64Array;
  private readonly decay: number;
  private readonly minFrames: number;

  constructor(
    private readonly model: ModelView,
    options: { window?: number; minFrames?: number } = {},
  ) {
    this.reached = new Float64Array(model.exits.length * LEVELS.length);
    this.passed = new Float64Array(model.exits.length * LEVELS.length);
    this.seen = new Uint32Array(model.exits.length * LEVELS.length);
    const pairs = model.exits.length * model.exits.length * LEVELS.length;
    this.ranOn = new Float64Array(pairs);
    this.ranOnSeen = new Uint32Array(pairs);
    this.disagreed = new Float64Array(pairs);
    this.decay = 1 - 1 / Math.max(1, options.window ?? 500);
    this.minFrames = options.minFrames ?? 20;
  }

  /**
   * One frame's confidences at the exits it ran, shallowest first (index 0 = exit 1), and optionally its answers
   * there (class indices), from which the disagreement is learnt.
   */
  observe(confidences: readonly number[], classes?: readonly number[]): void {
    const exits = this.model.exits.length;
    const ran = Math.min(confidences.length, exits);
    LEVELS.forEach((level, l) => {
      for (let k = 0; k < ran; k++) {
        const cell = k * LEVELS.length + l;
        this.reached[cell] = (this.reached[cell] ?? 0) * this.decay + 1;
        this.passed[cell] = (this.passed[cell] ?? 0) * this.decay;
        this.seen[cell] = Math.min((this.seen[cell] ?? 0) + 1, 0xffffffff);
        const threshold = this.model.exits[k]?.thresholds[level];
        if (threshold !== null && threshold !== undefined && (confidences[k] ?? 0) >= threshold) {
          this.passed[cell] = (this.passed[cell] ?? 0) + 1;
          if (classes !== undefined && classes.length === confidences.length) {
            for (let later = k + 1; later < ran; later++) {
              const pair = (k * exits + later) * LEVELS.length + l;
              this.ranOn[pair] = (this.ranOn[pair] ?? 0) * this.decay + 1;
              this.disagreed[pair] = (this.disagreed[pair] ?? 0) * this.decay + (classes[k] === classes[later] ? 0 : 1);
              this.ranOnSeen[pair] = Math.min((this.ranOnSeen[pair] ?? 0) + 1, 0xffffffff);
            }
          }
          // Frames that passed here would have stopped here: later exits count only the ones that did not.
          return;
        }
      }
    });
  }

  /** Every frame of a run batch, from the exits it ran (confidences and answers). */
  observeAnswers(frames: readonly (AnsweredFrame | undefined)[]): void {
    for (const frame of frames) {
      if (frame === undefined) continue;
      this.observe(
        frame.exits.map((e) => e.confidence),
        frame.exits.map((e) => e.classIndex),
      );
    }
  }

  passRate(exitIndex: number, level: ConfidenceLevel): number {
    const cell = (exitIndex - 1) * LEVELS.length + LEVELS.indexOf(level);
    if (!((this.seen[cell] ?? 0) >= this.minFrames)) return 0;
    return (this.passed[cell] ?? 0) / (this.reached[cell] ?? 1);
  }

  disagreement(exitIndex: number, level: ConfidenceLevel, laterExit: number): number {
    if (!(laterExit > exitIndex && laterExit <= this.model.exits.length)) return NaN;
    const pair = ((exitIndex - 1) * this.model.exits.length + (laterExit - 1)) * LEVELS.length + LEVELS.indexOf(level);
    if (!((this.ranOnSeen[pair] ?? 0) >= this.minFrames)) return NaN;
    return (this.disagreed[pair] ?? 0) / (this.ranOn[pair] ?? 1);
  }
}

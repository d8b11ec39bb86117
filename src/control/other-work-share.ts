import { processCpuClock } from '../core/process-cpu-clock.ts';

/**
 * How much of the core that runs a model's inference is taken by everything else the process does: receiving,
 * decoding, the sinks, other models, garbage collection. The planner's work budget is what is left (PlannerOptions
 * .otherWorkShare); without it the planner budgets the whole core for inference, the work around it builds a
 * backlog upstream where the planner cannot see it, and frames miss their deadlines there.
 *
 * Measured, not modelled: over windows of `windowMs`, per wall millisecond. Inference runs on the main thread (ONNX
 * Runtime's session.run is synchronous), so everything else the main thread does competes with it whatever the core
 * count: receiving, parsing and decoding JSON and base64 payloads, planning, the sinks. Work on other threads (libvips
 * decoding images, V8's helper) competes only beyond what the spare cores absorb (cores − 1 of them). The share is smoothed over windows (EWMA) so one collection or one burst of decoding does not swing the plans.
 */
export interface CpuClock {
  /** Process CPU time (user + system, all threads) in ms. */
  cpuMs(): number;
  /** Wall time in ms. */
  nowMs(): number;
  /**
   * CPU time of the main thread (ms), or undefined where it cannot be read: then all work other than inference
   * counts as if it could run on a spare core.
   */
  mainThreadCpuMs?(): number | undefined;
}

/**
 * The share of the CPU a model is guaranteed for its inference when several run in one process: its weight over the
 * sum of all of theirs (flow files' `policy.cpuWeight`). 0 when it runs alone: then nothing is set aside for others.
 */
export function guaranteedCpuShare(ownWeight: number, allWeights: readonly number[]): number {
  const total = allWeights.reduce((sum, weight) => sum + weight, 0);
  return allWeights.length >= 2 && total > 0 ? Math.min(1, ownWeight / total) : 0;
}

/**
 * Frames a window must have seen for the work per frame to be learnt from it: in a quieter window the work every
 * window has (timers, flushes) would pass for the frames' own.
 */
const MIN_FRAMES_PER_WINDOW = 20;

export class OtherWorkShareMeter {
  private windowStartWall: number;
  private framesOffered = 0;
  private otherMsPerFrame: number | undefined;
  private windowStartCpu: number;
  private windowStartMainCpu: number | undefined;
  private inferenceMs = 0;
  private shareEstimate = 0;

  /**
   * cores: the cores the process may run on (os.availableParallelism() respects the CPU affinity set by taskset).
   * alpha: weight of the newest window; 0.3 follows a load change within a few windows.
   */
  constructor(
    private readonly cores: number,
    private readonly clock: CpuClock = processCpuClock,
    private readonly windowMs = 250,
    private readonly alpha = 0.3,
  ) {
    this.windowStartWall = clock.nowMs();
    this.windowStartCpu = clock.cpuMs();
    this.windowStartMainCpu = clock.mainThreadCpuMs?.();
  }

  /** One batch of this model ran for `ms` of wall time (one inference thread busy). */
  observeInference(ms: number): void {
    this.inferenceMs += Math.max(0, ms);
  }

  /** A frame was offered (received, before decoding): most other work is per frame. */
  observeOffered(): void {
    this.framesOffered += 1;
  }

  /**
   * The share (0..1); closes the window when it is due. Cheap enough to call once per plan. The measured share is
   * smoothed over windows, so it lags a load change by a second; the other work per frame learnt at earlier loads,
   * times `arrivalRatePerMs` (frames offered per ms now), does not: a load that starts from idle is priced from its
   * first frames. The larger of the two counts. Without the rate, a step from idle to twice the capacity ran its first
   * second with the whole core budgeted for inference, at deep exits, and missed a third of that second's frames.
   */
  share(arrivalRatePerMs = 0): number {
    const wall = this.clock.nowMs();
    const elapsed = wall - this.windowStartWall;
    if (elapsed >= this.windowMs) {
      const cpu = this.clock.cpuMs();
      const mainCpu = this.clock.mainThreadCpuMs?.();
      const cpuMs = cpu - this.windowStartCpu;
      let share: number;
      if (mainCpu === undefined || this.windowStartMainCpu === undefined) {
        share = Math.max(0, Math.max(0, cpuMs - this.inferenceMs) / elapsed - (this.cores - 1));
      } else {
        const mainMs = mainCpu - this.windowStartMainCpu;
        const offMainMs = Math.max(0, cpuMs - mainMs);
        share = Math.max(0, mainMs - this.inferenceMs) / elapsed + Math.max(0, offMainMs / elapsed - (this.cores - 1));
      }
      this.shareEstimate += this.alpha * (Math.min(1, share) - this.shareEstimate);
      if (this.framesOffered >= MIN_FRAMES_PER_WINDOW) {
        const perFrame = (share * elapsed) / this.framesOffered;
        this.otherMsPerFrame = this.otherMsPerFrame === undefined ? perFrame : this.otherMsPerFrame + this.alpha * (perFrame - this.otherMsPerFrame);
      }
      this.windowStartWall = wall;
      this.windowStartCpu = cpu;
      this.windowStartMainCpu = mainCpu;
      this.inferenceMs = 0;
      this.framesOffered = 0;
    }
    return Math.min(1, Math.max(this.shareEstimate, (this.otherMsPerFrame ?? 0) * Math.max(0, arrivalRatePerMs)));
  }
}

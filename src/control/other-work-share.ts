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

export class OtherWorkShareMeter {
  private windowStartWall: number;
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

  /** The smoothed share (0..1); closes the window when it is due. Cheap enough to call once per plan. */
  share(): number {
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
      this.windowStartWall = wall;
      this.windowStartCpu = cpu;
      this.windowStartMainCpu = mainCpu;
      this.inferenceMs = 0;
    }
    return this.shareEstimate;
  }
}

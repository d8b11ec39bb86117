import type { Logger } from 'pino';
import { BURST_SHAPE, judgeProbe, nextBurstAfter, nextBurstRate, outcomeBetween, type CameraCounts, type ProbeOutcome } from './camera-load.ts';

/** A camera publishing at a given rate until stopped. */
export interface RunningCamera {
  stop(): Promise<void>;
}

export interface AdaptiveBurstsOptions {
  /** The steady camera's rate (fr/s): it keeps running through the bursts. */
  baseRate: number;
  /** The first burst's total rate (fr/s), from the calibration. */
  firstBurstRate: number;
  /** Starts a camera adding `rate` fr/s on top of the steady one. */
  startExtraCamera: (rate: number, burst: number) => Promise<RunningCamera>;
  /** The camera flow's counts now. */
  counts: () => CameraCounts;
  deepestExit: number;
  logger: Logger;
}

/** After a burst ends, its last frames are answered (deadlines are tens of ms) before it is judged. */
const JUDGE_AFTER_MS = 500;

/**
 * The camera's bursts (BURST_SHAPE: 2 s every 10 s from 5 s on), each sized from the last: a burst whose frames the
 * deepest exit still mostly answered makes the next one heavier, one that missed deadlines lighter (the same verdict
 * as the calibration's trial bursts), halfway between the two once both were seen since the last burst that fit. The other processes on a machine move what it sustains by more than the window
 * between overloading the deepest exit and overloading the first one; a rate fixed at start then showed no trade in
 * one run and shed in the next.
 */
export class AdaptiveBursts {
  /** The rate of each burst that ran (fr/s, steady camera included), in order. */
  readonly ran: number[] = [];
  private next: number;
  /** The bursts that did not fit since the last one that did. */
  private misses: ProbeOutcome[] = [];
  private timer: NodeJS.Timeout | undefined;
  private extra: RunningCamera | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();

  constructor(private readonly options: AdaptiveBurstsOptions) {
    this.next = options.firstBurstRate;
  }

  /** The rate of the burst running, or of the next one (fr/s, steady camera included). */
  get current(): number {
    return this.next;
  }

  start(): void {
    this.schedule(BURST_SHAPE.firstBurstAtMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.extra?.stop();
    this.extra = undefined;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    const startAt = performance.now() + delayMs;
    this.timer = setTimeout(() => {
      this.running = this.burst(startAt).catch((error: unknown) => this.options.logger.warn({ err: error }, 'camera burst failed'));
    }, delayMs);
  }

  private async burst(startedAt: number): Promise<void> {
    this.schedule(startedAt + BURST_SHAPE.everyMs - performance.now());
    const rate = this.next;
    this.ran.push(rate);
    const before = this.options.counts();
    this.extra = await this.options.startExtraCamera(Math.max(1, rate - this.options.baseRate), this.ran.length);
    await sleep(startedAt + BURST_SHAPE.burstMs - performance.now());
    await this.extra.stop();
    this.extra = undefined;
    await sleep(JUDGE_AFTER_MS);
    if (this.stopped) return;
    const outcome = outcomeBetween(rate, before, this.options.counts(), this.options.deepestExit);
    const verdict = judgeProbe(outcome);
    // Halfway (geometrically) between a light and a heavy burst once both were seen: a fixed step hopped over the
    // window, light and heavy by turns (272, 340, 272 fr/s).
    this.misses = verdict === 'fits' ? [] : [...this.misses, outcome];
    this.next = Math.round(this.misses.length === 0 ? nextBurstAfter(rate, verdict) : nextBurstRate(this.misses));
    this.options.logger.info({ ...outcome, verdict, next: this.next }, 'camera burst');
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

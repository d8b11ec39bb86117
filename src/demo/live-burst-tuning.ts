import type { Logger } from 'pino';
import { BURST_SHAPE, judgeLiveBurst, nextLiveBurstRate, outcomeBetween, type CameraCounts } from './camera-load.ts';

export interface LiveBurstTuningOptions {
  /** The first burst's rate (fr/s). */
  burstRate: number;
  /** Sets the camera's rate for the next burst (and the steady load around it, a BURST_SHAPE.factor-th of it). */
  setBurstRate: (rate: number) => void;
  /** The camera flow's counts now (frames of the run, not of the calibration). */
  counts: () => CameraCounts;
  /** Exits of the camera's model: the deepest is the one a burst must make the controller give up. */
  deepestExit: number;
  /**
   * No burst is set lighter than this (burstRateFloor: past what the deepest exit sustains): below it the deepest
   * exit keeps the burst alone and the demo shows nothing. Default 0.
   */
  minRate?: number;
  logger: Logger;
  /** When the camera's load profile started (Date.now() ms); default now. */
  startedAt?: number;
}

/** A burst is judged from this far into it (the controller's first reaction is not its answer) ... */
const JUDGE_FROM_MS = 500;
/** ... to this long after its end, so its last frames have their outcomes (deadlines are well under it). */
const JUDGE_UNTIL_AFTER_MS = 200;

export interface LiveBurstTuning {
  /** The rate of each burst started so far, in order. */
  readonly rates: readonly number[];
  stop: () => void;
}

/**
 * Judges each burst of the run as the calibration judged its trial bursts, and sets the next burst's rate from it
 * (nextLiveBurstRate): a step heavier when the deepest exit kept the burst on its own, a step lighter when deadlines
 * gave way. The capacity measured at start puts the first burst near the right rate; this keeps the later ones there
 * when the measurement was off or the machine's load changed since.
 */
export function startLiveBurstTuning(options: LiveBurstTuningOptions): LiveBurstTuning {
  const startedAt = options.startedAt ?? Date.now();
  const rates: number[] = [];
  let rate = options.burstRate;
  let timer: NodeJS.Timeout | undefined;
  let burst = 0;
  /** The heaviest burst of this run judged too light, and the lightest judged too heavy. */
  const seen: { light?: number; heavy?: number } = {};

  const at = (ms: number, run: () => void): void => {
    timer = setTimeout(run, Math.max(0, startedAt + ms - Date.now()));
    timer.unref();
  };
  const judgeNext = (): void => {
    const burstStart = BURST_SHAPE.firstBurstAtMs + burst * BURST_SHAPE.everyMs;
    at(burstStart + JUDGE_FROM_MS, () => {
      rates.push(rate);
      const before = options.counts();
      at(burstStart + BURST_SHAPE.burstMs + JUDGE_UNTIL_AFTER_MS, () => {
        const outcome = outcomeBetween(rate, before, options.counts(), options.deepestExit);
        const verdict = judgeLiveBurst(outcome);
        const next = Math.round(Math.max(options.minRate ?? 0, nextLiveBurstRate(outcome, seen)));
        if (verdict === 'too-light') seen.light = Math.max(seen.light ?? 0, rate);
        if (verdict === 'too-heavy') seen.heavy = Math.min(seen.heavy ?? Infinity, rate);
        options.logger.info({ burst: burst + 1, ...outcome, verdict, nextRate: next }, 'demo burst judged');
        if (next !== rate) {
          rate = next;
          options.setBurstRate(rate);
        }
        burst += 1;
        judgeNext();
      });
    });
  };
  judgeNext();
  return {
    rates,
    stop: () => clearTimeout(timer),
  };
}

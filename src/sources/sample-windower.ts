/**
 * Joins sample streams into fixed windows for the model: waveform blocks (e.g. 1,200 samples every 100 ms) cut into
 * windows of the model's length with the leftover carried into the next window, or slow scalar tags gathered by
 * count or by time. One windower per node id; pure (time comes in with the samples), so tests need no clock.
 */

export type WindowSpec = { by: 'count'; samples: number } | { by: 'time'; ms: number };

export interface SampleWindow {
  values: Float32Array;
  /** Source timestamp of the window's first sample (ms since epoch). */
  firstSampleTs: number;
}

export interface SampleWindower {
  /**
   * Adds samples that the device stamped `sourceTs` (for a block: the time of its first sample) and returns the
   * windows they completed, oldest first. `sampleIntervalMs` (when known) dates windows that start inside the block.
   */
  push: (values: ArrayLike<number>, sourceTs: number, sampleIntervalMs?: number) => SampleWindow[];
  /** Returns a window whose time span ended before `now` even if no later sample closed it (time windows only). */
  flushDue: (now: number) => SampleWindow[];
  /** Drops the partial window (after a gap: a window must not join samples across it); returns how many were dropped. */
  discardPartial: () => number;
}

/**
 * Windows of exactly `length` samples. `sampleIntervalMs` (1000 / sample rate) dates a window that starts inside a
 * block: its first sample's time is the block's time plus its offset; without it, the block's own time stands in.
 */
export class CountWindower implements SampleWindower {
  private buffer: Float32Array;
  private filled = 0;
  private firstSampleTs = 0;

  constructor(
    private readonly length: number,
    private readonly sampleIntervalMs = 0,
  ) {
    if (!Number.isInteger(length) || length < 1) throw new RangeError(`window length must be a positive integer, got ${length}`);
    this.buffer = new Float32Array(length);
  }

  push(values: ArrayLike<number>, sourceTs: number, sampleIntervalMs = this.sampleIntervalMs): SampleWindow[] {
    const windows: SampleWindow[] = [];
    let offset = 0;
    while (offset < values.length) {
      if (this.filled === 0) this.firstSampleTs = sourceTs + offset * sampleIntervalMs;
      const take = Math.min(this.length - this.filled, values.length - offset);
      for (let i = 0; i < take; i += 1) this.buffer[this.filled + i] = values[offset + i] ?? Number.NaN;
      this.filled += take;
      offset += take;
      if (this.filled === this.length) {
        windows.push({ values: this.buffer, firstSampleTs: this.firstSampleTs });
        // The emitted window keeps its buffer; the next one gets a fresh one.
        this.buffer = new Float32Array(this.length);
        this.filled = 0;
      }
    }
    return windows;
  }

  flushDue(): SampleWindow[] {
    return [];
  }

  discardPartial(): number {
    const dropped = this.filled;
    this.filled = 0;
    return dropped;
  }
}

/**
 * Windows covering `ms` of source time each: [start, start + ms) from the first sample of the window. A window
 * closes when a later sample arrives, or on `flushDue` once its span has passed (so a tag that stops changing
 * still delivers its last window). Empty spans produce no window.
 */
export class TimeWindower implements SampleWindower {
  private values: number[] = [];
  private start = 0;

  constructor(private readonly ms: number) {
    if (!(ms > 0)) throw new RangeError(`window time span must be positive, got ${ms}`);
  }

  push(values: ArrayLike<number>, sourceTs: number): SampleWindow[] {
    const windows: SampleWindow[] = [];
    if (this.values.length > 0 && sourceTs >= this.start + this.ms) windows.push(this.close());
    if (this.values.length === 0) this.start = sourceTs;
    for (let i = 0; i < values.length; i += 1) this.values.push(values[i] ?? Number.NaN);
    return windows;
  }

  flushDue(now: number): SampleWindow[] {
    return this.values.length > 0 && now >= this.start + this.ms ? [this.close()] : [];
  }

  discardPartial(): number {
    const dropped = this.values.length;
    this.values = [];
    return dropped;
  }

  private close(): SampleWindow {
    const window = { values: Float32Array.from(this.values), firstSampleTs: this.start };
    this.values = [];
    return window;
  }
}

export function createWindower(spec: WindowSpec, sampleRateHz?: number): SampleWindower {
  return spec.by === 'count'
    ? new CountWindower(spec.samples, sampleRateHz === undefined ? 0 : 1_000 / sampleRateHz)
    : new TimeWindower(spec.ms);
}

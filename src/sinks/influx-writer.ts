import type { Logger } from 'pino';
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { FrameResult } from '../core/frame.ts';
import { FlowStatsAggregator, type FlowState } from './flow-stats.ts';
import { inferencePoint } from './inference-point.ts';
import type { InfluxClient, InfluxTarget } from './influx-client.ts';
import { checkPoint, type InfluxPoint } from './influx-point.ts';
import { RetryBackoff } from './retry-backoff.ts';
import { SinkClosedError, type InfluxWriteError } from './sink-errors.ts';
import type { SpillStore } from './spill-store.ts';

/** Why points left the sink without reaching InfluxDB. Every dropped point is counted under one of these. */
export type DropReason = 'rejected' | 'invalid' | 'buffer-full' | 'spill-bound' | 'spill-failed' | 'spill-unreadable';

export interface DropEvent {
  reason: DropReason;
  points: number;
}

export interface InfluxWriterSettings {
  /** Points per write request. */
  batchSize: number;
  /** Longest a point waits in memory before a write is attempted. */
  flushIntervalMs: number;
  /** Points held in memory; past it the oldest go to the spill store (or are dropped without one). */
  bufferMaxPoints: number;
  /** Share of bufferMaxPoints above which `pressure$` says to slow intake. Default 0.8. */
  highWaterRatio?: number;
  /** Retry backoff for writes and database creation. Default 100 ms doubling to 5 s. */
  retryInitialMs?: number;
  retryMaxMs?: number;
}

/** For the periodic flow_stats point; without it the writer writes only inference points. */
export interface FlowStatsSettings {
  model: string;
  /** The model's number of exits (exit_1..exit_N are always written). */
  exitCount: number;
  intervalMs: number;
  /** Read at the end of each interval. */
  flowState: () => FlowState;
}

export interface InfluxWriterOptions {
  flow: string;
  target: InfluxTarget;
  settings: InfluxWriterSettings;
  client: InfluxClient;
  logger: Logger;
  /** Open spill store for long outages (see SpillStore.open); without it, overflow drops the oldest points. */
  spill?: SpillStore;
  stats?: FlowStatsSettings;
  now?: () => number;
  random?: () => number;
}

export interface FlushReport {
  /** Points still not in InfluxDB when flush returned (in memory or spilled to disk). */
  remaining: number;
  /** Of those, how many are safe on disk. */
  spilled: number;
}

/**
 * Writes one flow's results to InfluxDB 1.x (docs/telemetry.md): `inference` points and periodic `flow_stats`,
 * batched by size and time, buffered in memory with a bound and a high-water mark, retried with capped exponential
 * backoff and jitter on network errors and 5xx, spilled to disk during long outages. A 4xx batch is dropped, counted
 * and logged once. `write()` resolves once the point is in the buffer (memory or disk): that is when the pipeline
 * may acknowledge the frame's MQTT message.
 */
export class InfluxWriter {
  /** True while the memory buffer is above its high-water mark: the pipeline should slow intake. */
  readonly pressure$: Observable<boolean>;
  /** Every drop, with its reason and point count. */
  readonly drops$: Observable<DropEvent>;

  private readonly pressure = new BehaviorSubject(false);
  private readonly drops = new Subject<DropEvent>();
  private readonly backoff: RetryBackoff;
  private readonly now: () => number;
  private readonly highWater: number;
  private readonly stats: FlowStatsAggregator | undefined;
  private memory: InfluxPoint[] = [];
  /** The memory batch being written; put first in line again when the write fails. */
  private inflight: InfluxPoint[] = [];
  private firstBufferedAt: number | undefined;
  private droppedTotal = 0;
  private droppedSinceStats = 0;
  private relieving: Promise<void> = Promise.resolve();
  private flushRequests = 0;
  private wakeUp: () => void = () => undefined;
  private stopping = false;
  private closed = false;
  private started = false;
  private loop: Promise<void> = Promise.resolve();
  private statsTimer: NodeJS.Timeout | undefined;
  private outageSince: number | undefined;
  private ready = false;

  constructor(private readonly options: InfluxWriterOptions) {
    this.now = options.now ?? Date.now;
    this.backoff = new RetryBackoff({
      initialMs: options.settings.retryInitialMs ?? 100,
      maxMs: options.settings.retryMaxMs ?? 5_000,
      random: options.random,
    });
    this.highWater = Math.max(1, Math.floor(options.settings.bufferMaxPoints * (options.settings.highWaterRatio ?? 0.8)));
    this.pressure$ = this.pressure.asObservable();
    this.drops$ = this.drops.asObservable();
    const stats = options.stats;
    this.stats = stats === undefined ? undefined : new FlowStatsAggregator(options.flow, stats.model, stats.exitCount, this.now());
  }

  /** Creates the database and retention policy (retrying until InfluxDB answers), then writes as points arrive. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.loop = this.run();
    const stats = this.options.stats;
    if (stats !== undefined) {
      this.statsTimer = setInterval(() => void this.writeFlowStats(), stats.intervalMs);
      this.statsTimer.unref();
    }
  }

  /** Points not yet in InfluxDB: memory, in flight and spilled. */
  get bufferedPoints(): number {
    return this.memory.length + this.inflight.length + (this.options.spill?.pointCount ?? 0);
  }

  /** Points that left without reaching InfluxDB since start (see drops$ for reasons). */
  get droppedPoints(): number {
    return this.droppedTotal;
  }

  /** True once the database and retention policy exist (readiness). */
  get isReady(): boolean {
    return this.ready;
  }

  get isAboveHighWater(): boolean {
    return this.pressure.value;
  }

  /** Resolves when the memory buffer is below its high-water mark (at once if it is). */
  whenBelowHighWater(): Promise<void> {
    if (!this.pressure.value || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const subscription = this.pressure.subscribe((high) => {
        if (!high) {
          queueMicrotask(() => subscription.unsubscribe());
          resolve();
        }
      });
    });
  }

  /**
   * Buffers the frame's `inference` point (and counts it for flow_stats). Resolves once it is in the buffer (memory or
   * disk), or once it was dropped and counted because line protocol cannot carry it (drops$ reason 'invalid'): either
   * way the frame's message may be acknowledged. Rejects only with SinkClosedError after close().
   */
  async write(result: FrameResult): Promise<void> {
    if (this.closed || this.stopping) throw new SinkClosedError('InfluxDB sink');
    this.stats?.record(result);
    await this.writePoint(inferencePoint(result));
  }

  /** Buffers any point (used for flow_stats; also for tests and tools). */
  async writePoint(point: InfluxPoint): Promise<void> {
    if (this.closed) throw new SinkClosedError('InfluxDB sink');
    try {
      checkPoint(point);
    } catch (error) {
      // Settled, not rejected: the same result would fail the same way on every redelivery. Counted instead.
      this.countDrop('invalid', 1);
      this.options.logger.warn({ flow: this.options.flow, reason: (error as Error).message }, 'influx sink: point refused before buffering');
      return;
    }
    const wasEmpty = this.memory.length === 0;
    if (wasEmpty) this.firstBufferedAt = this.now();
    this.memory.push(point);
    // With a spill store the disk is the buffer: memory goes to disk at the high-water mark, so intake does not stall
    // behind a long outage. Without one, memory holds up to bufferMaxPoints and intake waits above the high-water mark.
    const limit = this.options.spill === undefined ? this.options.settings.bufferMaxPoints : this.highWater - 1;
    if (this.memory.length + this.inflight.length > limit) await this.relieve(limit);
    this.updatePressure();
    // The first point in an empty buffer starts the flush-interval clock: wake the loop so it arms the timer
    // (otherwise it sleeps until a full batch arrives, however long that takes).
    if (wasEmpty || this.memory.length >= this.options.settings.batchSize) this.wakeUp();
  }

  /**
   * Writes everything buffered, waiting up to `timeoutMs`. What is still in memory then is moved to the spill store
   * (when there is one) so it survives the restart; the report says what did not reach InfluxDB.
   */
  async flush(timeoutMs = 10_000): Promise<FlushReport> {
    this.flushRequests += 1;
    this.wakeUp();
    const deadline = this.now() + timeoutMs;
    try {
      while (this.bufferedPoints > 0 && this.now() < deadline && this.started) {
        await sleep(Math.min(20, Math.max(1, deadline - this.now())));
      }
    } finally {
      this.flushRequests -= 1;
    }
    const spill = this.options.spill;
    if (spill !== undefined && this.memory.length + this.inflight.length > 0) {
      await this.relieving;
      const rest = [...this.inflight, ...this.memory];
      this.inflight = [];
      this.memory = [];
      await this.spillPoints(rest);
    }
    return { remaining: this.bufferedPoints, spilled: spill?.pointCount ?? 0 };
  }

  /** Writes a last flow_stats point, flushes, and stops. Further writes reject with SinkClosedError. */
  async close(timeoutMs = 10_000): Promise<FlushReport> {
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    if (this.stats !== undefined && !this.stopping) await this.writeFlowStats();
    this.stopping = true;
    const report = await this.flush(timeoutMs);
    this.closed = true;
    this.wakeUp();
    await this.loop;
    this.pressure.complete();
    this.drops.complete();
    return report;
  }

  private async writeFlowStats(): Promise<void> {
    const stats = this.options.stats;
    if (this.stats === undefined || stats === undefined || this.closed) return;
    const point = this.stats.close(this.now(), stats.flowState(), { bufferedPoints: this.bufferedPoints, droppedInInterval: this.droppedSinceStats });
    this.droppedSinceStats = 0;
    await this.writePoint(point).catch(() => undefined);
  }

  private async run(): Promise<void> {
    await this.ensureTarget();
    while (!this.closed) {
      await this.waitForWork();
      if (this.closed) break;
      const failure = await this.writeNextBatch();
      if (failure !== undefined) this.noteFailure(failure);
      else this.noteSuccess();
      if (failure !== undefined) await this.sleepUnlessClosed(this.backoff.nextDelayMs());
    }
  }

  private async ensureTarget(): Promise<void> {
    while (!this.closed) {
      try {
        await this.options.client.ensureTarget(this.options.target);
        this.ready = true;
        this.noteSuccess();
        return;
      } catch (error) {
        this.noteFailure(error as InfluxWriteError);
        await this.sleepUnlessClosed(this.backoff.nextDelayMs());
      }
    }
  }

  /** Resolves when a batch is due: full batch, flush interval reached, flush requested or spilled points waiting. */
  private async waitForWork(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      if (this.inflight.length > 0 || (this.options.spill?.segmentCount ?? 0) > 0) return;
      if (this.memory.length >= this.options.settings.batchSize) return;
      if (this.memory.length > 0 && (this.flushRequests > 0 || this.stopping)) return;
      const dueIn = this.memory.length === 0 ? undefined : (this.firstBufferedAt ?? this.now()) + this.options.settings.flushIntervalMs - this.now();
      if (dueIn !== undefined && dueIn <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = dueIn === undefined ? undefined : setTimeout(resolve, dueIn);
        this.wakeUp = () => {
          if (timer !== undefined) clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = () => undefined;
    }
  }

  /** Writes one batch; returns the error when it should be retried later. */
  private async writeNextBatch(): Promise<InfluxWriteError | undefined> {
    const { spill } = this.options;
    if (this.inflight.length === 0) {
      const segment = spill?.oldest();
      if (spill !== undefined && segment !== undefined) {
        let points: InfluxPoint[];
        try {
          points = await spill.read(segment);
        } catch {
          await spill.remove(segment);
          this.countDrop('spill-unreadable', segment.points);
          this.options.logger.error({ flow: this.options.flow, points: segment.points }, 'influx sink: unreadable spill segment dropped');
          return undefined;
        }
        const failure = await this.tryWrite(points);
        if (failure === undefined || !failure.retryable) await spill.remove(segment);
        return failure?.retryable === true ? failure : undefined;
      }
      this.inflight = this.memory.splice(0, this.options.settings.batchSize);
      this.firstBufferedAt = this.memory.length > 0 ? this.now() : undefined;
      this.updatePressure();
      if (this.inflight.length === 0) return undefined;
    }
    const failure = await this.tryWrite(this.inflight);
    if (failure === undefined || !failure.retryable) this.inflight = [];
    this.updatePressure();
    return failure?.retryable === true ? failure : undefined;
  }

  /** One write request; a non-retryable refusal drops the batch here, with a count and one log line. */
  private async tryWrite(points: readonly InfluxPoint[]): Promise<InfluxWriteError | undefined> {
    try {
      await this.options.client.writePoints(points, this.options.target);
      return undefined;
    } catch (caught) {
      const error = caught as InfluxWriteError;
      if (error.retryable === false) {
        const dropped = Math.min(points.length, error.droppedPoints ?? points.length);
        this.countDrop('rejected', dropped);
        this.options.logger.error({ flow: this.options.flow, points: dropped, batch: points.length, status: error.status, err: error.message }, 'influx sink: points refused by InfluxDB and dropped');
      }
      return error;
    }
  }

  /** Memory over `bufferMaxPoints` (the bound): the oldest points go to disk (or are dropped without a spill store). */
  private relieve(bufferMaxPoints: number): Promise<void> {
    this.relieving = this.relieving.then(async () => {
      const { batchSize } = this.options.settings;
      while (this.memory.length > 0 && this.memory.length + this.inflight.length > bufferMaxPoints) {
        const chunk = this.memory.splice(0, Math.max(batchSize, this.memory.length + this.inflight.length - bufferMaxPoints));
        if (this.options.spill === undefined) {
          this.countDrop('buffer-full', chunk.length);
          this.options.logger.warn({ flow: this.options.flow, points: chunk.length }, 'influx sink: buffer full, oldest points dropped');
        } else {
          await this.spillPoints(chunk);
        }
      }
    });
    return this.relieving;
  }

  private async spillPoints(points: InfluxPoint[]): Promise<void> {
    const spill = this.options.spill;
    if (spill === undefined || points.length === 0) return;
    const { batchSize } = this.options.settings;
    for (let start = 0; start < points.length; start += batchSize) {
      const chunk = points.slice(start, start + batchSize);
      try {
        const dropped = await spill.append(chunk);
        if (dropped > 0) {
          this.countDrop('spill-bound', dropped);
          this.options.logger.warn({ flow: this.options.flow, points: dropped }, 'influx sink: spill bound reached, oldest points dropped');
        }
      } catch (error) {
        this.countDrop('spill-failed', chunk.length);
        this.options.logger.error({ flow: this.options.flow, points: chunk.length, err: (error as Error).message }, 'influx sink: spilling to disk failed, points dropped');
      }
    }
    this.wakeUp();
  }

  private countDrop(reason: DropReason, points: number): void {
    this.droppedTotal += points;
    this.droppedSinceStats += points;
    this.drops.next({ reason, points });
  }

  private updatePressure(): void {
    const high = this.memory.length + this.inflight.length >= this.highWater;
    if (high !== this.pressure.value) this.pressure.next(high);
  }

  private noteFailure(error: InfluxWriteError): void {
    if (!error.retryable && this.ready) return;
    if (this.outageSince === undefined) {
      this.outageSince = this.now();
      if (error.retryable) this.options.logger.warn({ flow: this.options.flow, err: error.message }, 'influx sink: InfluxDB unavailable, buffering and retrying');
      // Refused before anything was written: credentials or permissions. Keep retrying: an operator can fix it live.
      else this.options.logger.error({ flow: this.options.flow, status: error.status, err: error.message }, 'influx sink: InfluxDB refused to set up the database (check sinks.influx credentials), buffering and retrying');
    }
  }

  private noteSuccess(): void {
    this.backoff.reset();
    if (this.outageSince !== undefined) {
      this.options.logger.info({ flow: this.options.flow, outageMs: this.now() - this.outageSince, buffered: this.bufferedPoints }, 'influx sink: InfluxDB reachable again');
      this.outageSince = undefined;
    }
  }

  private async sleepUnlessClosed(ms: number): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wakeUp = () => {
        // Only close cuts a backoff short; new points must not turn it into a tight retry loop.
        if (this.closed) {
          clearTimeout(timer);
          resolve();
        }
      };
    });
    this.wakeUp = () => undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}


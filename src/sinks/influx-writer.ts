import type { Logger } from 'pino';
import { Subject, type Observable } from 'rxjs';
import type { FrameResult } from '../core/frame.ts';
import { FlowStatsAggregator, type FlowState } from './flow-stats.ts';
import { inferencePoint } from './inference-point.ts';
import type { InfluxClient, InfluxTarget } from './influx-client.ts';
import { checkPoint, type InfluxPoint } from './influx-point.ts';
import { lineProtocol } from './line-protocol.ts';
import { RetryBackoff } from './retry-backoff.ts';
import { SinkClosedError, type InfluxWriteError } from './sink-errors.ts';
import { WalIntervals, type WalCommitWindow } from './wal-interval.ts';
import type { WalState } from './wal-state.ts';
import type { WalBatch, WalStats, WriteAheadLog } from './write-ahead-log.ts';

/**
 * Why points left the sink without reaching InfluxDB. Every one is counted under one of these. 'invalid': line
 * protocol cannot carry the point (refused before it was acknowledged); 'rejected': InfluxDB answered 400 for it
 * (a field type conflict, beyond the retention policy: it would be refused forever); 'wal-corrupt': a log record
 * damaged on disk after it was written.
 */
export type DropReason = 'rejected' | 'invalid' | 'wal-corrupt';

export interface DropEvent {
  reason: DropReason;
  points: number;
}

export interface InfluxWriterSettings {
  /** Points per write request. */
  batchSize: number;
  /** Longest a durable point waits before a write is attempted. */
  flushIntervalMs: number;
  /** Retry backoff for writes and database creation. Default 100 ms doubling to 5 s. */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Recent frames (device id and capture time) recognised when the broker redelivers them. Default 50,000. */
  dedupeWindow?: number;
}

/** For the periodic flow_stats point; without it the writer writes only inference points. */
export interface FlowStatsSettings {
  intervalMs: number;
  /** Read at the end of each interval (the serving model included: it changes with a live swap). */
  flowState: () => FlowState;
}

export interface InfluxWriterOptions {
  flow: string;
  target: InfluxTarget;
  settings: InfluxWriterSettings;
  client: InfluxClient;
  logger: Logger;
  /** The flow's open write-ahead log (WriteAheadLog.open); the writer owns it from here and closes it. */
  wal: WriteAheadLog;
  /** Keys of the records the log recovered or retained (WalRecovery.keys): redeliveries of these are not written again. */
  recoveredKeys?: readonly string[];
  /** Records the log replayed from the previous run (WalRecovery.records), for the first flow_stats point. */
  replayedRecords?: number;
  /** The window the log's observer feeds with its group commits, for the flow_stats fsync fields. */
  walCommits?: WalCommitWindow;
  stats?: FlowStatsSettings;
  now?: () => number;
  random?: () => number;
}

export interface FlushReport {
  /** Acknowledged points not yet in InfluxDB when flush returned: safe in the write-ahead log, written on next start. */
  remaining: number;
  /** Points accepted but not yet durable (their frames are not acknowledged). */
  notDurable: number;
}

const DURABLE: Promise<void> = Promise.resolve();

/** A frame redelivered by its broker has the same device id and capture time; frames without them are not deduplicated. */
export function dedupeKey(result: FrameResult): string | undefined {
  return result.captureTsSource === 'device' ? `${result.id}@${result.captureTs}` : undefined;
}

/**
 * Writes one flow's results to InfluxDB 1.x (docs/telemetry.md): `inference` points and periodic `flow_stats`.
 * `write()` resolves once the point is fsync'd to the flow's write-ahead log: only then may the pipeline acknowledge
 * the frame's message. From the log, points go to InfluxDB in batches (by size and time), oldest first, retried with
 * capped exponential backoff and jitter on network errors, 5xx and 401/403/404 (after which the database is set up
 * again), and leave the log once InfluxDB confirmed them. A batch InfluxDB refuses with another 4xx is dropped,
 * counted and logged. While the log is near its disk bound or cannot be written, `isAboveHighWater` holds intake back.
 */
export class InfluxWriter {
  /** Every drop, with its reason and point count. */
  readonly drops$: Observable<DropEvent>;

  private readonly drops = new Subject<DropEvent>();
  private readonly backoff: RetryBackoff;
  private readonly now: () => number;
  private readonly stats: FlowStatsAggregator | undefined;
  private readonly wal: WriteAheadLog;
  private readonly walIntervals: WalIntervals;
  /** Keys of recent frames, each with the promise of its record's durability (insertion order = age). */
  private readonly recent = new Map<string, Promise<void>>();
  /** The keys of `recent` in the order they came, from `recentOrderHead` on: the oldest leaves first. */
  private recentOrder: string[] = [];
  private recentOrderHead = 0;
  private firstPendingAt: number | undefined;
  private droppedTotal = 0;
  private droppedSinceStats = 0;
  private duplicatesSkipped = 0;
  private failedAttempts = 0;
  private flushRequests = 0;
  private wakeUp: () => void = () => undefined;
  private stopping = false;
  private closed = false;
  private started = false;
  private loop: Promise<void> = Promise.resolve();
  private statsTimer: NodeJS.Timeout | undefined;
  private outageSince: number | undefined;
  private targetReady = false;
  private retrying = false;
  private ready = false;

  constructor(private readonly options: InfluxWriterOptions) {
    this.now = options.now ?? Date.now;
    this.wal = options.wal;
    this.walIntervals = new WalIntervals(options.wal, options.walCommits, options.replayedRecords ?? 0);
    this.backoff = new RetryBackoff({
      initialMs: options.settings.retryInitialMs ?? 100,
      maxMs: options.settings.retryMaxMs ?? 5_000,
      random: options.random,
    });
    this.drops$ = this.drops.asObservable();
    const stats = options.stats;
    this.stats = stats === undefined ? undefined : new FlowStatsAggregator(options.flow, this.now());
    for (const key of options.recoveredKeys ?? []) this.remember(key, Promise.resolve());
    // Recovered records are a backlog: due at once.
    if (this.wal.durableUnconfirmedRecords > 0) this.firstPendingAt = -Infinity;
  }

  /** Sets up the database and retention policy (retrying until InfluxDB answers), then writes as points arrive. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.loop = this.run().catch((error: unknown) => {
      // A bug, not an outage: said loudly. The points stay in the log and are written on the next start.
      this.options.logger.fatal({ flow: this.options.flow, err: error instanceof Error ? error.stack : String(error) }, 'influx sink: writer stopped by an unexpected error');
    });
    const stats = this.options.stats;
    if (stats !== undefined) {
      this.statsTimer = setInterval(() => void this.writeFlowStats(), stats.intervalMs);
      this.statsTimer.unref();
    }
  }

  /** Points not yet in InfluxDB (in the write-ahead log, or being committed to it). */
  get bufferedPoints(): number {
    return this.wal.unconfirmedRecords;
  }

  /** Points that left without reaching InfluxDB since start (see drops$ for reasons). */
  get droppedPoints(): number {
    return this.droppedTotal;
  }

  /** Redelivered frames whose point was already durable, so not written again. */
  get duplicatesSkippedCount(): number {
    return this.duplicatesSkipped;
  }

  /** Group-commit counters of the write-ahead log (commit latency, records per fsync). */
  get walStats(): Readonly<WalStats> {
    return this.wal.stats;
  }

  /** What the write-ahead log holds now: bytes, records, segments, time intake waited for room (metrics). */
  get walState(): WalState {
    return this.wal.state();
  }

  /** True once InfluxDB took the database setup or a write (readiness). */
  get isReady(): boolean {
    return this.ready;
  }

  get isAboveHighWater(): boolean {
    return this.wal.isAboveHighWater;
  }

  /** Resolves when the write-ahead log is below its high-water mark and writable (at once if it is). */
  whenBelowHighWater(): Promise<void> {
    if (!this.wal.isAboveHighWater || this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const subscription = this.wal.pressure$.subscribe({
        next: (high) => {
          if (!high) {
            queueMicrotask(() => subscription.unsubscribe());
            resolve();
          }
        },
        complete: () => resolve(),
      });
    });
  }

  /**
   * Logs the frame's `inference` point (and counts it for flow_stats). Resolves once it is fsync'd to the write-ahead
   * log, or once it was dropped and counted because line protocol cannot carry it (drops$ reason 'invalid'): either
   * way the frame's message may be acknowledged. A redelivered frame whose point is already logged resolves when
   * that one is durable. Rejects only with SinkClosedError after close() (the frame is then not acknowledged).
   */
  async write(result: FrameResult): Promise<void> {
    if (this.closed || this.stopping) throw new SinkClosedError('InfluxDB sink');
    const key = dedupeKey(result);
    const earlier = key === undefined ? undefined : this.recent.get(key);
    if (earlier !== undefined) {
      this.duplicatesSkipped += 1;
      await earlier;
      return;
    }
    this.stats?.record(result);
    await this.writePoint(inferencePoint(result), key);
  }

  /** Logs any point (used for flow_stats; also for tests and tools). */
  async writePoint(point: InfluxPoint, key?: string): Promise<void> {
    if (this.closed) throw new SinkClosedError('InfluxDB sink');
    try {
      checkPoint(point);
    } catch (error) {
      // Settled, not rejected: the same result would fail the same way on every redelivery. Counted instead.
      this.countDrop('invalid', 1);
      this.options.logger.warn({ flow: this.options.flow, reason: (error as Error).message }, 'influx sink: point refused before logging');
      return;
    }
    const durable = this.wal.append({ key, line: lineProtocol(point) });
    if (key !== undefined) {
      // Until durable, a redelivery waits for this point; after, the entry holds one shared settled promise, so the
      // dedupe window (50,000 keys) keeps no promise per point alive in the heap the GC marks.
      const settled: Promise<void> = durable.then(
        () => {
          if (this.recent.get(key) === settled) this.recent.set(key, DURABLE);
        },
        () => {
          this.recent.delete(key);
        },
      );
      this.remember(key, settled);
    }
    await durable;
    if (this.firstPendingAt === undefined) {
      // The first durable point starts the flush-interval clock: wake the loop so it arms its timer.
      this.firstPendingAt = this.now();
      this.wakeUp();
    } else if (this.wal.durableUnconfirmedRecords >= this.options.settings.batchSize) {
      this.wakeUp();
    }
  }

  /**
   * Writes what the log holds to InfluxDB, waiting up to `timeoutMs`, or until a retry made during the flush failed
   * too (InfluxDB is down: every point is durable, nothing to wait for); what is left stays in the log.
   */
  async flush(timeoutMs = 10_000): Promise<FlushReport> {
    this.flushRequests += 1;
    this.wakeUp();
    const deadline = this.now() + timeoutMs;
    const failuresAtStart = this.failedAttempts;
    try {
      // Once a retry during this flush failed too, there is nothing to wait for: every point is durable, the log keeps them.
      const givingUp = (): boolean => this.outageSince !== undefined && this.failedAttempts > failuresAtStart && this.wal.notDurableRecords === 0;
      while (this.wal.unconfirmedRecords > 0 && this.now() < deadline && this.started && !this.closed && !givingUp()) {
        await sleep(Math.min(20, Math.max(1, deadline - this.now())));
      }
    } finally {
      this.flushRequests -= 1;
    }
    return { remaining: this.wal.durableUnconfirmedRecords, notDurable: this.wal.notDurableRecords };
  }

  /** Writes a last flow_stats point, flushes, closes the log. Further writes reject with SinkClosedError. */
  async close(timeoutMs = 10_000): Promise<FlushReport> {
    const deadline = this.now() + timeoutMs;
    if (this.statsTimer !== undefined) clearInterval(this.statsTimer);
    if (this.stats !== undefined && !this.stopping) await this.writeFlowStats();
    this.stopping = true;
    await this.flush(Math.max(0, deadline - this.now()));
    this.closed = true;
    this.wakeUp();
    await this.loop;
    await this.wal.close(Math.max(1_000, deadline - this.now()));
    const report: FlushReport = { remaining: this.wal.durableUnconfirmedRecords, notDurable: this.wal.notDurableRecords };
    if (report.remaining > 0) {
      this.options.logger.warn(
        { flow: this.options.flow, points: report.remaining },
        'influx sink: stopped with points not yet in InfluxDB; they are in the write-ahead log (their frames were acknowledged) and are written on the next start',
      );
    }
    this.drops.complete();
    return report;
  }

  private async writeFlowStats(): Promise<void> {
    const stats = this.options.stats;
    if (this.stats === undefined || stats === undefined || this.closed) return;
    const point = this.stats.close(this.now(), stats.flowState(), {
      bufferedPoints: this.bufferedPoints,
      droppedInInterval: this.droppedSinceStats,
      wal: this.walIntervals.next(),
    });
    this.droppedSinceStats = 0;
    await this.writePoint(point).catch(() => undefined);
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      if (!this.targetReady) {
        const setup = await this.setUpTarget();
        // Refused (a write-only user, say): write anyway when there is something to write, the database may exist.
        if (setup === 'down' || (setup === 'refused' && this.wal.durableUnconfirmedRecords === 0)) {
          await this.sleepUnlessClosed(this.backoff.nextDelayMs());
          continue;
        }
      }
      await this.waitForWork();
      if (this.closed) break;
      const failure = await this.writeNextBatch();
      if (failure === undefined) {
        this.noteSuccess();
        continue;
      }
      this.noteFailure(failure);
      await this.sleepUnlessClosed(this.backoff.nextDelayMs());
    }
  }

  private async setUpTarget(): Promise<'ready' | 'refused' | 'down'> {
    try {
      await this.options.client.ensureTarget(this.options.target);
      this.targetReady = true;
      this.ready = true;
      this.noteSuccess();
      return 'ready';
    } catch (error) {
      const failure = error as InfluxWriteError;
      this.noteFailure(failure, true);
      return failure.status === 401 || failure.status === 403 ? 'refused' : 'down';
    }
  }

  /** Resolves when a batch is due: full batch, flush interval reached, flush requested, a backlog or a retry. */
  private async waitForWork(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const waiting = this.wal.durableUnconfirmedRecords;
      if (waiting > 0) {
        if (waiting >= this.options.settings.batchSize || this.retrying || this.flushRequests > 0 || this.stopping) return;
        const dueIn = (this.firstPendingAt ?? this.now()) + this.options.settings.flushIntervalMs - this.now();
        if (dueIn <= 0) return;
        await this.sleepUntilWoken(dueIn);
      } else {
        await this.sleepUntilWoken(undefined);
      }
    }
  }

  private async sleepUntilWoken(ms: number | undefined): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
      this.wakeUp = () => {
        if (timer !== undefined) clearTimeout(timer);
        resolve();
      };
    });
    this.wakeUp = () => undefined;
  }

  /** Writes the oldest batch of the log; returns the error when it should be retried later. */
  private async writeNextBatch(): Promise<InfluxWriteError | undefined> {
    const batch = await this.wal.nextBatch(this.options.settings.batchSize);
    if (batch === undefined) return undefined;
    try {
      await this.options.client.writeLines(batch.lines, this.options.target);
    } catch (caught) {
      const error = caught as InfluxWriteError;
      if (error.retryable !== false) {
        // Credentials rotated, permissions changed, database dropped: set it up again before the next try.
        if (error.status === 401 || error.status === 403 || error.status === 404) {
          this.targetReady = false;
          this.ready = false;
        }
        return error;
      }
      this.refused(batch, error);
    }
    await this.wal.confirm(batch);
    this.targetReady = true;
    this.ready = true;
    const left = this.wal.durableUnconfirmedRecords;
    this.firstPendingAt = left === 0 ? undefined : left >= this.options.settings.batchSize ? -Infinity : this.now();
    return undefined;
  }

  /** InfluxDB refused the batch for good (400): the points it did not write are dropped, counted, logged once per batch. */
  private refused(batch: WalBatch, error: InfluxWriteError): void {
    const dropped = Math.min(batch.lines.length, error.droppedPoints ?? batch.lines.length);
    this.countDrop('rejected', dropped);
    this.options.logger.error({ flow: this.options.flow, points: dropped, batch: batch.lines.length, status: error.status, err: error.message }, 'influx sink: points refused by InfluxDB and dropped');
  }

  private remember(key: string, durable: Promise<void>): void {
    this.recent.set(key, durable);
    this.recentOrder.push(key);
    // Oldest first from a queue of its own: a Map iterated from its start walks over every entry deleted since it last
    // compacted, which made eviction cost more than the rest of a shed frame's point.
    const window = this.options.settings.dedupeWindow ?? 50_000;
    while (this.recent.size > window && this.recentOrderHead < this.recentOrder.length) {
      this.recent.delete(this.recentOrder[this.recentOrderHead] as string);
      this.recentOrderHead += 1;
    }
    if (this.recentOrderHead > window) {
      this.recentOrder.splice(0, this.recentOrderHead);
      this.recentOrderHead = 0;
    }
    // Keys of failed writes leave the Map but not the queue: rebuilt from the Map should they ever pile up.
    if (this.recentOrder.length - this.recentOrderHead > 2 * window) {
      this.recentOrder = [...this.recent.keys()];
      this.recentOrderHead = 0;
    }
  }

  private countDrop(reason: DropReason, points: number): void {
    this.droppedTotal += points;
    this.droppedSinceStats += points;
    this.drops.next({ reason, points });
  }

  private noteFailure(error: InfluxWriteError, settingUp = false): void {
    this.retrying = true;
    this.failedAttempts += 1;
    if (this.outageSince !== undefined) return;
    this.outageSince = this.now();
    const auth = error.status === 401 || error.status === 403;
    if (settingUp && auth) {
      this.options.logger.error(
        { flow: this.options.flow, status: error.status, err: error.message },
        'influx sink: InfluxDB refused to set up the database (check sinks.influx credentials); points stay in the write-ahead log, writing and retrying',
      );
    } else {
      this.options.logger.warn({ flow: this.options.flow, status: error.status, err: error.message }, 'influx sink: InfluxDB unavailable, points stay in the write-ahead log, retrying');
    }
  }

  private noteSuccess(): void {
    this.retrying = false;
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

import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { BehaviorSubject, type Observable } from 'rxjs';
import { WAL_DEFAULTS } from './influx-sink-config.ts';
import { RetryBackoff } from './retry-backoff.ts';
import { SinkClosedError } from './sink-errors.ts';
import { releaseLock, syncDirectory, takeLock } from './wal-files.ts';
import { encodeRecord, parseSegment, type WalRecord } from './wal-record.ts';
import type { WalObserver, WalState } from './wal-state.ts';

/**
 * A flow's write-ahead log (docs/reliability.md): every point is appended here and fsync'd before the frame's
 * message is acknowledged, then written to InfluxDB from here, oldest first. Segment files `wal-<n>.log` hold framed,
 * checksummed line-protocol records (wal-record.ts). Appends are group-committed: one write and one fdatasync per
 * group, a group closing `commitIntervalMs` after its first record or at `commitMaxRecords`, so an append waits at
 * most one interval plus one fsync, and a busy flow pays one fsync per group, not per frame.
 *
 * A segment whose every record InfluxDB confirmed is renamed `wal-<n>.done` and kept while it is among the last
 * `retainRecords` records: a frame the broker redelivers after a crash is recognised by its key and not written
 * twice. On open, `.log` segments are replayed and `.done` ones only read for their keys; a torn last record (a
 * crash mid-write) fails its checksum and is ignored: it was never acknowledged.
 *
 * The bound `maxBytes` covers the `.log` segments: at it, appends wait (nothing is acknowledged, intake is held back
 * through `pressure$`) until InfluxDB confirms old records. Nothing in the log is ever dropped to make room.
 * A failed write or fsync (disk full, I/O error) is retried with backoff in a fresh segment; the records it held
 * stay unacknowledged meanwhile.
 */
export interface WriteAheadLogOptions {
  dir: string;
  flow: string;
  logger: Logger;
  /** Bound on unconfirmed log bytes; appends wait past it. */
  maxBytes: number;
  /** Records kept in memory for the InfluxDB writer; the rest is read back from the segments. */
  memoryMaxRecords: number;
  /** Longest an append waits for its group's fsync to start. Default `WAL_DEFAULTS.commitIntervalMs` (10 ms). */
  commitIntervalMs?: number;
  /** A group this large is committed at once. Default 1,000. */
  commitMaxRecords?: number;
  /** Segment size at which a new segment starts. Default min(4 MiB, maxBytes / 8). */
  segmentMaxBytes?: number;
  /** Confirmed records whose keys are kept to recognise redeliveries. Default 50,000. */
  retainRecords?: number;
  /** High-water share of maxBytes (pressure$). Default 0.8. */
  highWaterRatio?: number;
  /** Observation hooks (metrics). */
  observer?: WalObserver;
  now?: () => number;
}

interface Segment {
  index: number;
  bytes: number;
  /** Committed records (durable). */
  records: number;
  /** Records InfluxDB confirmed, from the start of the segment. */
  confirmed: number;
  /** Lines of the unconfirmed records [confirmed, records), when cached in memory. */
  lines: string[] | undefined;
  /** Appends go to a new segment from the next commit (this one was evicted or failed). */
  sealed: boolean;
}

interface Pending {
  record: string;
  line: string;
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface WalBatch {
  readonly lines: readonly string[];
  readonly segment: number;
}

export interface WalRecovery {
  /** Records replayed from `.log` segments (not known to be in InfluxDB). */
  records: number;
  /** Keys of the recovered and retained records, oldest first. */
  keys: string[];
  /** Complete records that failed their checksum (damage, not a crash): lost, and reported. */
  corrupt: number;
  /** Torn last records (a crash mid-write): never acknowledged. */
  torn: number;
}

export interface WalStats {
  commits: number;
  committedRecords: number;
  /** Sum of commit durations (write + fdatasync), seconds. */
  commitSeconds: number;
  maxCommitSeconds: number;
  failedCommits: number;
  /** Time intake was held back (pressure$ true: near the bound, or the disk failing), seconds, holds that ended. */
  intakeHeldSeconds: number;
}

const SEGMENT = /^wal-(\d{12})\.(log|done)$/;

export class WriteAheadLog {
  readonly pressure$: Observable<boolean>;
  readonly stats: WalStats = { commits: 0, committedRecords: 0, commitSeconds: 0, maxCommitSeconds: 0, failedCommits: 0, intakeHeldSeconds: 0 };
  private readonly pressure = new BehaviorSubject(false);
  private readonly segments: Segment[] = [];
  private readonly done: { index: number; records: number }[] = [];
  private readonly pending: Pending[] = [];
  private readonly spaceWaiters: { bytes: number; resolve: () => void }[] = [];
  private readonly backoff = new RetryBackoff({ initialMs: 50, maxMs: 2_000 });
  private readonly now: () => number;
  private readonly commitIntervalMs: number;
  private readonly commitMaxRecords: number;
  private readonly segmentMaxBytes: number;
  private active: { segment: Segment; handle: FileHandle } | undefined;
  private nextIndex = 0;
  private logBytes = 0;
  private reservedBytes = 0;
  private cachedRecords = 0;
  private committing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private closed = false;
  /** When pressure$ turned true (undefined: intake not held back). */
  private heldSince: number | undefined;

  private constructor(private readonly options: WriteAheadLogOptions) {
    this.now = options.now ?? (() => performance.now());
    this.commitIntervalMs = options.commitIntervalMs ?? WAL_DEFAULTS.commitIntervalMs;
    this.commitMaxRecords = options.commitMaxRecords ?? 1_000;
    this.segmentMaxBytes = options.segmentMaxBytes ?? Math.max(4_096, Math.min(4 * 2 ** 20, Math.floor(options.maxBytes / 8)));
    this.pressure$ = this.pressure.asObservable();
  }

  /** Opens (creating) the folder and recovers what a previous run left. Throws when the folder cannot be used. */
  static async open(options: WriteAheadLogOptions): Promise<{ log: WriteAheadLog; recovery: WalRecovery }> {
    const log = new WriteAheadLog(options);
    await mkdir(options.dir, { recursive: true });
    await takeLock(options.dir);
    const recovery: WalRecovery = { records: 0, keys: [], corrupt: 0, torn: 0 };
    const names = (await readdir(options.dir)).sort();
    for (const name of names) {
      const match = SEGMENT.exec(name);
      if (match === null) continue;
      const index = Number(match[1]);
      log.nextIndex = Math.max(log.nextIndex, index + 1);
      const parsed = parseSegment(await readFile(join(options.dir, name), 'utf8'));
      for (const record of parsed.records) if (record.key !== undefined) recovery.keys.push(record.key);
      if (match[2] === 'done') {
        log.done.push({ index, records: parsed.records.length });
        continue;
      }
      recovery.corrupt += parsed.corrupt;
      recovery.torn += parsed.torn ? 1 : 0;
      if (parsed.records.length === 0) {
        await rm(join(options.dir, name), { force: true });
        continue;
      }
      const bytes = parsed.records.reduce((sum, record) => sum + Buffer.byteLength(encodeRecord(record)), 0);
      log.segments.push({ index, bytes, records: parsed.records.length, confirmed: 0, lines: undefined, sealed: true });
      log.logBytes += bytes;
      recovery.records += parsed.records.length;
    }
    // Probe: the folder must take a new segment now, not at the first frame.
    await log.openSegment();
    log.updatePressure();
    return { log, recovery };
  }

  /** Records not yet confirmed by InfluxDB: committed and still committing. */
  get unconfirmedRecords(): number {
    let count = this.pending.length;
    for (const segment of this.segments) count += segment.records - segment.confirmed;
    return count;
  }

  /** Records durable in the log and not yet confirmed by InfluxDB. */
  get durableUnconfirmedRecords(): number {
    let count = 0;
    for (const segment of this.segments) count += segment.records - segment.confirmed;
    return count;
  }

  /** Appends accepted but not yet durable (waiting for their group's fsync or for room in the log). */
  get notDurableRecords(): number {
    return this.pending.length + this.spaceWaiters.length;
  }

  get bytes(): number {
    return this.logBytes + this.reservedBytes;
  }

  state(): WalState {
    const holding = this.heldSince === undefined ? 0 : (this.now() - this.heldSince) / 1000;
    return {
      bytes: this.bytes,
      records: this.unconfirmedRecords,
      segments: this.segments.length,
      retainedSegments: this.done.length,
      intakeHeldSeconds: this.stats.intakeHeldSeconds + holding,
    };
  }

  get isAboveHighWater(): boolean {
    return this.pressure.value;
  }

  /** Resolves once the record is fsync'd. Waits while the log is at its bound or the disk fails. */
  async append(record: WalRecord): Promise<void> {
    if (this.closed) throw new SinkClosedError('write-ahead log');
    const encoded = encodeRecord(record);
    const bytes = Buffer.byteLength(encoded);
    await this.reserve(bytes);
    if (this.closed) {
      this.reservedBytes -= bytes;
      throw new SinkClosedError('write-ahead log');
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record: encoded, line: record.line, resolve, reject });
      this.schedule();
    });
  }

  /** The oldest durable records InfluxDB has not confirmed, at most `max`, from one segment. */
  async nextBatch(max: number): Promise<WalBatch | undefined> {
    for (;;) {
      const head = this.segments.find((segment) => segment.confirmed < segment.records);
      if (head === undefined) return undefined;
      if (head.lines !== undefined) return { lines: head.lines.slice(0, max), segment: head.index };
      if (!head.sealed) {
        // The active segment, not cached: appends move to a new segment, so what is read here is final.
        head.sealed = true;
        await this.committing;
      }
      const expected = head.records;
      const parsed = parseSegment(await readFile(this.segmentFile(head.index, 'log'), 'utf8'), expected);
      if (head.lines !== undefined || head.records !== expected || !this.segments.includes(head)) continue;
      if (parsed.records.length < expected) {
        this.options.logger.error({ flow: this.options.flow, expected, found: parsed.records.length }, 'write-ahead log: segment damaged on disk, its unreadable records are lost');
        head.records = parsed.records.length;
        if (head.confirmed >= head.records) {
          await this.retireIfConfirmed(head);
          continue;
        }
      }
      head.lines = parsed.records.slice(head.confirmed, head.records).map((record) => record.line);
      this.cachedRecords += head.lines.length;
      this.evict();
    }
  }

  /** InfluxDB has the batch: its records are confirmed; a segment fully confirmed leaves the log. */
  async confirm(batch: WalBatch): Promise<void> {
    const segment = this.segments.find((candidate) => candidate.index === batch.segment);
    if (segment === undefined) return;
    const count = Math.min(batch.lines.length, segment.records - segment.confirmed);
    segment.confirmed += count;
    if (segment.lines !== undefined) {
      segment.lines.splice(0, count);
      this.cachedRecords -= count;
    }
    // A fully confirmed active segment of some size (or one that appends wait for) is closed so it can leave the
    // log; the next commit opens a new one. Not while a commit is writing to it.
    const active = this.active;
    if (active?.segment === segment && segment.confirmed === segment.records && this.committing === undefined && (segment.bytes >= this.segmentMaxBytes / 16 || this.spaceWaiters.length > 0)) {
      this.active = undefined;
      segment.sealed = true;
      await active.handle.close().catch(() => undefined);
    }
    await this.retireIfConfirmed(segment);
    this.updatePressure();
  }

  /** Commits what is pending (waiting up to `timeoutMs`), then closes. Appends not yet durable are rejected. */
  async close(timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((this.pending.length > 0 || this.committing !== undefined) && Date.now() < deadline) {
      if (this.committing === undefined && !this.failing) void this.commit();
      await (this.committing ?? new Promise((resolve) => setTimeout(resolve, 20)));
    }
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    for (const waiter of this.spaceWaiters.splice(0)) waiter.resolve();
    for (const entry of this.pending.splice(0)) entry.reject(new SinkClosedError('write-ahead log'));
    const active = this.active;
    this.active = undefined;
    if (active !== undefined) {
      await active.handle.close().catch(() => undefined);
      if (active.segment.records === 0 || active.segment.confirmed === active.segment.records) {
        active.segment.sealed = true;
        await this.retireIfConfirmed(active.segment);
      }
    }
    await releaseLock(this.options.dir);
    this.pressure.complete();
  }

  private reserve(bytes: number): Promise<void> {
    const fits = (): boolean => this.bytes === 0 || this.bytes + bytes <= this.options.maxBytes;
    if (this.spaceWaiters.length === 0 && fits()) {
      this.reservedBytes += bytes;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.spaceWaiters.push({ bytes, resolve });
      this.updatePressure();
    });
  }

  private releaseSpace(): void {
    for (;;) {
      const head = this.spaceWaiters[0];
      if (head === undefined || (this.bytes > 0 && this.bytes + head.bytes > this.options.maxBytes)) break;
      this.spaceWaiters.shift();
      this.reservedBytes += head.bytes;
      head.resolve();
    }
  }

  private schedule(): void {
    if (this.committing !== undefined || this.failing || this.closed) return;
    if (this.pending.length >= this.commitMaxRecords) {
      void this.commit();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.commit();
    }, this.commitIntervalMs);
  }

  private commit(): Promise<void> {
    if (this.committing !== undefined) return this.committing;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.committing = this.commitGroup().finally(() => {
      this.committing = undefined;
      if (this.pending.length > 0 && !this.failing) this.schedule();
    });
    return this.committing;
  }

  private async commitGroup(): Promise<void> {
    const group = this.pending.splice(0, this.commitMaxRecords);
    if (group.length === 0) return;
    const started = this.now();
    const data = Buffer.from(group.map((entry) => entry.record).join(''));
    try {
      if (this.active === undefined || this.active.segment.sealed || this.active.segment.bytes >= this.segmentMaxBytes) await this.openSegment();
      const { segment, handle } = this.active as { segment: Segment; handle: FileHandle };
      try {
        await handle.write(data, 0, data.length);
        await handle.datasync();
      } catch (error) {
        // What reached the file may be partial: this segment takes no more records, the group goes to a new one.
        segment.sealed = true;
        await handle.truncate(segment.bytes).catch(() => undefined);
        throw error;
      }
      segment.bytes += data.length;
      segment.records += group.length;
      this.logBytes += data.length;
      this.reservedBytes -= data.length;
      if (segment.lines !== undefined) {
        for (const entry of group) segment.lines.push(entry.line);
        this.cachedRecords += group.length;
        this.evict();
      }
      const seconds = (this.now() - started) / 1000;
      this.stats.commits += 1;
      this.stats.committedRecords += group.length;
      this.stats.commitSeconds += seconds;
      this.stats.maxCommitSeconds = Math.max(this.stats.maxCommitSeconds, seconds);
      this.options.observer?.committed(group.length, seconds);
      if (this.failing) {
        this.failing = false;
        this.backoff.reset();
        this.options.logger.info({ flow: this.options.flow }, 'write-ahead log: writing again; held-back frames are being acknowledged');
      }
      this.updatePressure();
      for (const entry of group) entry.resolve();
    } catch (error) {
      this.pending.unshift(...group);
      this.stats.failedCommits += 1;
      if (!this.failing) {
        this.failing = true;
        this.options.logger.error(
          { flow: this.options.flow, err: (error as NodeJS.ErrnoException).code ?? (error as Error).message, records: group.length },
          'write-ahead log: write failed; frames are not acknowledged and intake is held back until it succeeds',
        );
      }
      this.updatePressure();
      // Disk full: the retained `.done` segments only serve to recognise redeliveries (the writer keeps their keys in
      // memory too); their room goes to records not yet in InfluxDB.
      if ((error as NodeJS.ErrnoException).code === 'ENOSPC') await this.removeRetained();
      const delay = this.backoff.nextDelayMs();
      setTimeout(() => {
        if (this.closed) return;
        void this.commit();
      }, delay).unref();
    }
  }

  private async openSegment(): Promise<void> {
    const previous = this.active;
    const index = this.nextIndex;
    const handle = await open(this.segmentFile(index, 'log'), 'a');
    try {
      await syncDirectory(this.options.dir);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(this.segmentFile(index, 'log'), { force: true }).catch(() => undefined);
      throw error;
    }
    this.nextIndex += 1;
    // With memory full, a new segment is not cached: it is read back when its turn comes.
    const segment: Segment = { index, bytes: 0, records: 0, confirmed: 0, lines: this.cachedRecords < this.options.memoryMaxRecords ? [] : undefined, sealed: false };
    this.segments.push(segment);
    this.active = { segment, handle };
    if (previous !== undefined) {
      previous.segment.sealed = true;
      await previous.handle.close().catch(() => undefined);
      await this.retireIfConfirmed(previous.segment);
    }
  }

  /** A sealed segment whose records are all confirmed leaves the log (kept as `.done` while its keys are recent). */
  private async retireIfConfirmed(segment: Segment): Promise<void> {
    if (!segment.sealed || segment.confirmed < segment.records || this.active?.segment === segment) return;
    const position = this.segments.indexOf(segment);
    if (position === -1) return;
    this.segments.splice(position, 1);
    this.logBytes -= segment.bytes;
    if (segment.lines !== undefined) this.cachedRecords -= segment.lines.length;
    segment.lines = undefined;
    const retain = this.options.retainRecords ?? 50_000;
    try {
      // While the disk fails, confirmed segments are deleted, not kept: their room is needed.
      if (retain > 0 && segment.records > 0 && !this.failing) {
        await rename(this.segmentFile(segment.index, 'log'), this.segmentFile(segment.index, 'done'));
        this.done.push({ index: segment.index, records: segment.records });
        this.done.sort((a, b) => a.index - b.index);
        let kept = this.done.reduce((sum, entry) => sum + entry.records, 0);
        while (this.done.length > 1 && kept - (this.done[0]?.records ?? 0) >= retain) {
          const oldest = this.done.shift() as { index: number; records: number };
          kept -= oldest.records;
          await rm(this.segmentFile(oldest.index, 'done'), { force: true });
        }
      } else {
        await rm(this.segmentFile(segment.index, 'log'), { force: true });
      }
    } catch (error) {
      // Its points are in InfluxDB: a leftover file is only replayed once more (idempotent).
      this.options.logger.warn({ flow: this.options.flow, err: (error as Error).message }, 'write-ahead log: could not remove a confirmed segment');
    }
    this.releaseSpace();
    this.updatePressure();
  }

  private async removeRetained(): Promise<void> {
    for (const entry of this.done.splice(0)) await rm(this.segmentFile(entry.index, 'done'), { force: true }).catch(() => undefined);
  }

  /** Keeps at most memoryMaxRecords lines cached: the newest segments are read back from disk when their turn comes. */
  private evict(): void {
    const head = this.segments.find((segment) => segment.confirmed < segment.records);
    for (let i = this.segments.length - 1; i >= 0 && this.cachedRecords > this.options.memoryMaxRecords; i -= 1) {
      const segment = this.segments[i] as Segment;
      if (segment === head || segment.lines === undefined) continue;
      this.cachedRecords -= segment.lines.length;
      segment.lines = undefined;
    }
  }

  private updatePressure(): void {
    if (this.closed) return;
    const high = this.failing || this.spaceWaiters.length > 0 || this.bytes >= this.options.maxBytes * (this.options.highWaterRatio ?? 0.8);
    if (high === this.pressure.value) return;
    if (high) this.heldSince = this.now();
    else if (this.heldSince !== undefined) {
      this.stats.intakeHeldSeconds += (this.now() - this.heldSince) / 1000;
      this.heldSince = undefined;
    }
    this.pressure.next(high);
  }

  private segmentFile(index: number, kind: 'log' | 'done'): string {
    return join(this.options.dir, `wal-${String(index).padStart(12, '0')}.${kind}`);
  }
}

import type { WalObserver, WalState } from './wal-state.ts';

/**
 * The write-ahead log over one `flow_stats` interval: the `wal_*` fields (docs/telemetry.md). The same figures as the
 * `edgeke_wal_*` Prometheus metrics, per interval, so the Grafana dashboards (which read only InfluxDB) can show them.
 */

/** The group commits of an interval. */
export interface WalCommits {
  commits: number;
  /** Records (points) they made durable. */
  records: number;
  /** Sum of their durations (write + fdatasync), seconds. */
  seconds: number;
  /** The longest one, seconds (0 without commits). */
  maxSeconds: number;
}

export interface WalInterval {
  /** Bytes of the log at the end of the interval (what `walMaxBytes` bounds). */
  bytes: number;
  /** `.log` segments at the end of the interval. */
  segments: number;
  /** Absent when nobody observed the log's commits (a writer built without `createInfluxWriter`). */
  commits?: WalCommits;
  /** Time intake was held back during the interval, seconds. */
  intakeHeldSeconds: number;
  /** Records replayed from the previous run: in the first interval after start, 0 after. */
  replayedRecords: number;
}

/**
 * Observes the log's group commits (passed on to `next`, the metrics) and sums them until `take()`, which starts
 * the next window: the longest fsync of each interval is kept, not just the longest since start.
 */
export class WalCommitWindow implements WalObserver {
  private window: WalCommits = { commits: 0, records: 0, seconds: 0, maxSeconds: 0 };

  constructor(private readonly next?: WalObserver) {}

  committed(records: number, seconds: number): void {
    const window = this.window;
    window.commits += 1;
    window.records += records;
    window.seconds += seconds;
    window.maxSeconds = Math.max(window.maxSeconds, seconds);
    this.next?.committed(records, seconds);
  }

  /** The commits since the previous call. */
  take(): WalCommits {
    const taken = this.window;
    this.window = { commits: 0, records: 0, seconds: 0, maxSeconds: 0 };
    return taken;
  }
}

/** Reads a log's interval after interval: what it holds at each end, what it did in between. */
export class WalIntervals {
  private intakeHeldSeconds = 0;
  private replayedRecords: number;

  /**
   * `commits`: the window the log's observer feeds (create-influx-writer.ts); `replayedRecords`: what the log
   * recovered on open (WalRecovery.records), reported once.
   */
  constructor(
    private readonly log: { state(): WalState },
    private readonly commits: WalCommitWindow | undefined,
    replayedRecords: number,
  ) {
    this.replayedRecords = replayedRecords;
  }

  /** The interval ending now; starts the next. */
  next(): WalInterval {
    const state = this.log.state();
    const interval: WalInterval = {
      bytes: state.bytes,
      segments: state.segments,
      // The log's total grows, the hold in progress included: the difference is this interval's share.
      intakeHeldSeconds: Math.max(0, state.intakeHeldSeconds - this.intakeHeldSeconds),
      replayedRecords: this.replayedRecords,
    };
    this.intakeHeldSeconds = Math.max(this.intakeHeldSeconds, state.intakeHeldSeconds);
    this.replayedRecords = 0;
    const commits = this.commits?.take();
    if (commits !== undefined) interval.commits = commits;
    return interval;
  }
}

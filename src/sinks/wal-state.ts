/** What a write-ahead log (write-ahead-log.ts) tells its metrics: per commit as it happens, and its state on demand. */

/** Called synchronously from the log; must be cheap and must not throw. */
export interface WalObserver {
  /** One group commit: how many records it made durable and how long its write and fdatasync took (seconds). */
  committed(records: number, seconds: number): void;
}

/** What the log holds now (metrics read it on a timer). */
export interface WalState {
  /**
   * Bytes of the `.log` segments plus appends reserved in them: what `maxBytes` bounds. A confirmed record's bytes
   * leave with its segment (when the segment is closed and renamed `.done`).
   */
  bytes: number;
  /** Records not yet confirmed by InfluxDB (committed and committing). */
  records: number;
  /** `.log` segments (records not all confirmed, or the active one). */
  segments: number;
  /** `.done` segments kept to recognise redeliveries. */
  retainedSegments: number;
  /**
   * Total time the log held intake back (near its bound: past the high-water share of `maxBytes`, or appends waiting
   * for room; or its disk failing), seconds, the hold in progress included.
   */
  intakeHeldSeconds: number;
}

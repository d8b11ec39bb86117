/**
 * The `sinks.influx` block of a flow file: its zod piece (composed in src/flows/schema.ts), its type and its
 * defaults, the write-ahead log's among them.
 */
import { z } from 'zod';
import { doc, positiveInt, urlWithScheme } from '../config/field-doc.ts';

export const RETENTION_POLICY_DEFAULTS = { name: 'edgeke', duration: '30d' } as const;

/** What the flow schema fills in for an influx block that leaves these out. */
export const INFLUX_SINK_DEFAULTS = {
  database: 'edgeke',
  retentionPolicy: RETENTION_POLICY_DEFAULTS,
  batchSize: 500,
  flushIntervalMs: 1000,
  bufferMaxPoints: 100_000,
  statsIntervalMs: 5000,
} as const;

/**
 * The write-ahead log's defaults for `walMaxBytes` (and its old name `spillMaxBytes`) and `walCommitIntervalMs`. The
 * schema leaves these fields optional, so the old names can fill in; the sink applies these when neither is set.
 */
export const WAL_DEFAULTS = {
  maxBytes: 256 * 2 ** 20,
  commitIntervalMs: 10,
} as const;

export const retentionPolicySchema = z
  .object({
    name: doc(z.string().min(1).default(RETENTION_POLICY_DEFAULTS.name), 'Retention policy name (created if missing).', 'edgeke'),
    duration: doc(z.string().regex(/^(inf|(\d+(ns|u|µ|ms|s|m|h|d|w))+)$/, 'expected an InfluxQL duration such as 30d, 12h or inf').default(RETENTION_POLICY_DEFAULTS.duration), 'How long points are kept.', '30d'),
  })
  .strict();

export const influxSinkSchema = z
  .object({
    url: doc(urlWithScheme(['http', 'https']), 'InfluxDB 1.x HTTP URL.', 'http://127.0.0.1:8086'),
    database: doc(z.string().min(1).default(INFLUX_SINK_DEFAULTS.database), 'Database (created if missing).', 'edgeke'),
    retentionPolicy: doc(retentionPolicySchema.default({ ...INFLUX_SINK_DEFAULTS.retentionPolicy }), 'Retention policy the points are written to.', { name: 'edgeke', duration: '30d' }),
    username: doc(z.string().min(1).optional(), 'InfluxDB user.', '${INFLUX_USERNAME}'),
    password: doc(z.string().min(1).optional(), 'InfluxDB password; must be written as ${ENV_VAR}.', '${INFLUX_PASSWORD}', { secret: true }),
    batchSize: doc(positiveInt().max(50_000).default(INFLUX_SINK_DEFAULTS.batchSize), 'Points per write request; a full batch is written at once.', 500),
    flushIntervalMs: doc(positiveInt().default(INFLUX_SINK_DEFAULTS.flushIntervalMs), 'Longest a point waits in the buffer before a write, in milliseconds.', 1000),
    bufferMaxPoints: doc(
      positiveInt().default(INFLUX_SINK_DEFAULTS.bufferMaxPoints),
      'Points of the write-ahead log kept in memory for writing to InfluxDB; older ones are read back from disk.',
      100_000,
    ),
    walDir: doc(
      z.string().min(1).optional(),
      'Folder of the flow\'s write-ahead log: every point is fsync\'d here before its frame is acknowledged, and stays until InfluxDB confirms it. Default: $EDGEKE_STATE_DIR/wal/<flow name>, else .edgeke/wal/<flow name> in the working directory.',
      './state/wal/line1-camera',
    ),
    walMaxBytes: doc(
      positiveInt().min(65_536).optional(),
      `Bound on the write-ahead log (points not yet in InfluxDB). At it, frames are not acknowledged and intake waits until InfluxDB takes points again; nothing is dropped. Default ${WAL_DEFAULTS.maxBytes} (${WAL_DEFAULTS.maxBytes / 2 ** 20} MiB).`,
      268_435_456,
    ),
    walCommitIntervalMs: doc(
      z.number().positive().max(1000).optional(),
      `Group commit: longest a point waits for the fsync that makes it durable (one fsync per group of points). Default ${WAL_DEFAULTS.commitIntervalMs}. Shorter acknowledges sooner; longer costs less CPU per point (docs/reliability.md).`,
      10,
    ),
    spillDir: doc(z.string().min(1).optional(), 'Old name of walDir (used when walDir is absent).', './spill/line1-camera'),
    spillMaxBytes: doc(positiveInt().min(65_536).optional(), 'Old name of walMaxBytes (used when walMaxBytes is absent).', 268_435_456),
    statsIntervalMs: doc(positiveInt().default(INFLUX_SINK_DEFAULTS.statsIntervalMs), 'Interval of the flow_stats points, in milliseconds.', 5000),
  })
  .strict();

export type RetentionPolicyConfig = z.infer<typeof retentionPolicySchema>;
export type InfluxSinkConfig = z.infer<typeof influxSinkSchema>;

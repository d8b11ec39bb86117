import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { InfluxDB } from 'influx';
import mqtt, { type MqttClient } from 'mqtt';
import pino, { type Logger } from 'pino';
import type { FrameResult } from '../../../src/core/frame.ts';
import type { LoadedFlow } from '../../../src/flows/load.ts';
import type { ResultSink } from '../../../src/sinks/result-sink.ts';
import { EdgekeService, type ServiceOptions } from '../../../src/pipeline/service.ts';
import { EdgekeMetrics } from '../../../src/telemetry/metrics.ts';
import { Readiness } from '../../../src/telemetry/readiness.ts';
import { loadFlow } from '../../helpers/flow-from-yaml.ts';
import { waitFor } from '../../helpers/wait-for.ts';

export { loadFlow, waitFor };

/**
 * Shared pieces of the reliability suite (docs/reliability.md): a service on the tiny signal fixture model (fast and
 * deterministic: these tests are about delivery, not accuracy), sequence-numbered JSON frames over MQTT, log capture
 * and InfluxDB read-back. Every helper is bounded in time.
 */

export const SIGNAL_MODEL = 'test/fixtures/tiny-model/signal';
/** Same input as SIGNAL_MODEL; its last stage costs ~170 MFLOPs, its early exits almost nothing (overload tests). */
export const HEAVY_FINAL_MODEL = 'test/fixtures/tiny-model/heavy-final';
export const WINDOW = 256;

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `edgeke-rel-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** A pino logger whose JSON lines are kept (to grep for secrets and payloads, and to count log lines). */
export function capturedLogger(level = 'info'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(line);
      callback();
    },
  });
  return { logger: pino({ level }, stream), lines };
}

export interface SignalFlowOptions {
  name: string;
  mqttUrl: string;
  topic: string;
  /** Extra keys of the source block, as YAML flow-map entries (`keepaliveSeconds: 2, sharedGroup: g`). */
  source?: string;
  influxUrl?: string;
  database?: string;
  /** Extra keys of the influx block. */
  influx?: string;
  policy?: string;
  batching?: string;
  limits?: string;
  /** Model folder; default SIGNAL_MODEL. */
  model?: string;
}

/** `a: 1, b: 2` with `b: 3, c: 4` gives `a: 1, b: 3, c: 4` (entries must not contain ', '). */
function mergeEntries(defaults: string, extra: string | undefined): string {
  const entries = new Map<string, string>();
  for (const entry of [...defaults.split(', '), ...(extra === undefined ? [] : extra.split(', '))]) entries.set(entry.split(':')[0]?.trim() ?? entry, entry);
  return [...entries.values()].join(', ');
}

/** A flow on the tiny signal model: JSON windows {id, ts, values[256]} over MQTT 5, QoS 1, results to InfluxDB. */
export function signalFlowYaml(options: SignalFlowOptions): string {
  const influx =
    options.influxUrl === undefined
      ? ''
      : `  influx: { ${mergeEntries(`url: "${options.influxUrl}", database: ${options.database ?? 'edgeke'}, flushIntervalMs: 500, statsIntervalMs: 60000`, options.influx)} }`;
  return `
name: ${options.name}
source: { ${mergeEntries(`kind: mqtt, url: "${options.mqttUrl}", topic: "${options.topic}", qos: 1, clientId: ${options.name}`, options.source)} }
decode: json-values
model: { path: ${options.model ?? SIGNAL_MODEL} }
policy: { ${options.policy ?? 'mode: deadline, deadlineMs: 60000, latePolicy: answer-late'} }
batching: { ${options.batching ?? 'maxBatch: 8, maxWaitMs: 5'} }
sinks:
${influx === '' ? '  {}' : influx}
limits: { ${options.limits ?? 'queueCapacity: 256, maxPayloadBytes: 65536'} }
`;
}

export interface TestService {
  service: EdgekeService;
  readiness: Readiness;
  metrics: EdgekeMetrics;
  results: FrameResult[];
  lines: string[];
  stop: (timeoutMs?: number) => Promise<boolean>;
}

/** Starts an EdgekeService in this process with readiness, metrics, captured logs and every result recorded. */
export async function startTestService(
  flows: LoadedFlow[],
  options: {
    profileCacheDir: string;
    extraSinks?: (name: string) => ResultSink[];
    logLevel?: string;
    /** false: results are only passed to onResult (a long run would otherwise hold every one in memory). */
    keepResults?: boolean;
  } & Partial<ServiceOptions>,
): Promise<TestService> {
  const { logger, lines } = capturedLogger(options.logLevel ?? 'info');
  const readiness = new Readiness();
  const metrics = new EdgekeMetrics();
  const results: FrameResult[] = [];
  const { extraSinks, keepResults = true, onResult, ...rest } = options;
  const service = await EdgekeService.start(flows, {
    ...rest,
    logger,
    readiness,
    metrics,
    profileRepeats: 3,
    profileMaxBatch: 8,
    onResult: (result) => {
      if (keepResults) results.push(result);
      onResult?.(result);
    },
    ...(extraSinks === undefined ? {} : { extraSinks: (config) => extraSinks(config.name) }),
  });
  let stopped: Promise<boolean> | undefined;
  return {
    service,
    readiness,
    metrics,
    results,
    lines,
    stop: (timeoutMs = 10_000) => {
      stopped ??= service.stop(timeoutMs).finally(() => metrics.close());
      return stopped;
    },
  };
}

/** One window of the signal model as the JSON a sensor gateway sends. */
export function signalPayload(id: string, ts: number, seed = 0): Buffer {
  const values = Array.from({ length: WINDOW }, (_, index) => Math.sin((index + seed) / 7) + ((index * 31 + seed) % 13) / 20);
  return Buffer.from(JSON.stringify({ id, ts, values }));
}

export const seqId = (prefix: string, index: number): string => `${prefix}-${String(index).padStart(6, '0')}`;

export async function connectPublisher(url: string, clientId: string, extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 5, clientId, clean: true, reconnectPeriod: 200, connectTimeout: 5_000, ...extra });
}

/**
 * Publishes frames `prefix-000000`, `prefix-000001`, ... with QoS 1 at a steady rate until stopped or `count` is
 * reached. Capture times are distinct (1 ms apart at least), so each frame is its own InfluxDB point.
 */
export function publishSteadily(client: MqttClient, topic: string, options: { prefix: string; ratePerSecond: number; count?: number; baseTs?: number }): {
  /** Publishes the client reported as failed (each was resent). */
  failures: string[];
  /** Ids the broker acknowledged (PUBACK). */
  acked: Set<string>;
  published: () => number;
  stop: () => Promise<number>;
  done: Promise<number>;
} {
  let index = 0;
  let running = true;
  const failures: string[] = [];
  const acked = new Set<string>();
  const baseTs = options.baseTs ?? Date.now();
  const periodMs = 1000 / options.ratePerSecond;
  const started = Date.now();
  const done = (async () => {
    while (running && (options.count === undefined || index < options.count)) {
      const due = started + index * periodMs;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (!running) break;
      const id = seqId(options.prefix, index);
      // QoS 1 publishes queue in the client while the broker is away and go out on reconnect.
      const payload = signalPayload(id, baseTs + index, index);
      const send = (attempt: number): void => {
        client.publish(topic, payload, { qos: 1 }, (error) => {
          if (error === undefined || error === null) {
            acked.add(id);
            return;
          }
          failures.push(`${id}: ${error.message}`);
          // A device resends what the broker did not acknowledge (at-least-once), once it is connected again.
          if (attempt < 20) setTimeout(() => send(attempt + 1), 250);
        });
      };
      send(0);
      index += 1;
    }
    return index;
  })();
  return {
    failures,
    acked,
    published: () => index,
    stop: async () => {
      running = false;
      return done;
    },
    done,
  };
}

export function influxFor(url: string, database: string, auth: { username?: string; password?: string } = {}): InfluxDB {
  const parsed = new URL(url);
  return new InfluxDB({ host: parsed.hostname, port: Number(parsed.port), database, ...auth });
}

/** Frame ids of the stored `inference` points (retention policy `edgeke`), one per point. */
export async function storedIds(influx: InfluxDB, where = ''): Promise<string[]> {
  const rows = await influx.query<{ id: string }>(`SELECT "id" FROM "edgeke"."inference"${where === '' ? '' : ` WHERE ${where}`}`).catch(() => []);
  return rows.map((row) => row.id);
}

/** Ids from `prefix-000000` to `prefix-<count-1>` that are missing from `ids`. */
export function missingIds(ids: Iterable<string>, prefix: string, count: number): string[] {
  const seen = new Set(ids);
  const missing: string[] = [];
  for (let index = 0; index < count; index += 1) if (!seen.has(seqId(prefix, index))) missing.push(seqId(prefix, index));
  return missing;
}

export function duplicates(ids: readonly string[]): string[] {
  const seen = new Set<string>();
  const twice = new Set<string>();
  for (const id of ids) (seen.has(id) ? twice : seen).add(id);
  return [...twice];
}

/** A result sink that only records, in the order the pipeline hands results to its sinks. */
export function recordingSink(order: string[]): ResultSink {
  return {
    name: 'recorder',
    write: async (result) => {
      order.push(result.id);
    },
    flush: async () => 0,
    close: async () => undefined,
  };
}

export const rssMiB = (): number => process.memoryUsage().rss / 2 ** 20;

setFlagsFromString('--expose-gc');
/** A forced full GC, so that the memory left after it is memory still held (memory-bound tests). */
export const collectGarbage = runInNewContext('gc') as () => void;

/**
 * Memory the process still holds (MiB): the least of a few forced collections 50 ms apart. One collection leaves
 * buffers freed lazily (external memory) and allocator slack in RSS, tens of MiB on a busy run; a retained
 * allocation stays in every sample.
 */
export async function settledMemory(samples = 5): Promise<{ rss: number; buffers: number }> {
  let rss = Infinity;
  let buffers = Infinity;
  for (let i = 0; i < samples; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    collectGarbage();
    const usage = process.memoryUsage();
    rss = Math.min(rss, usage.rss / 2 ** 20);
    buffers = Math.min(buffers, (usage.external + usage.arrayBuffers) / 2 ** 20);
  }
  return { rss, buffers };
}

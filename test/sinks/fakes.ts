import pino from 'pino';
import type { FrameResult } from '../../src/core/frame.ts';
import type { InfluxClient, InfluxTarget } from '../../src/sinks/influx-client.ts';
import { InfluxWriteError } from '../../src/sinks/sink-errors.ts';

export const silentLogger = pino({ level: 'silent' });

/** A logger that keeps its lines, to check what is (and is not) logged. */
export function recordingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (chunk: string) => void chunks.push(chunk) });
  return { logger, lines: () => chunks.map((chunk) => JSON.parse(chunk) as Record<string, unknown>) };
}

export type FakeMode = 'up' | 'down' | 'reject' | 'unauthorized';

/** A stored line: its series (measurement and tags), timestamp and raw fields text, as InfluxDB keys it. */
export interface StoredLine {
  measurement: string;
  series: string;
  timestamp: string;
  fields: string;
  line: string;
}

/** Splits a line-protocol line at its unescaped, unquoted spaces: series, fields, timestamp. */
export function splitLine(line: string): StoredLine {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (c === '\\') i += 1;
    else if (c === '"') quoted = !quoted;
    else if (c === ' ' && !quoted) {
      parts.push(line.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(line.slice(start));
  const [series = '', fields = '', timestamp = ''] = parts;
  return { measurement: series.split(',')[0] ?? '', series, fields, timestamp, line };
}

/** In-memory InfluxDB: stores lines by (series, timestamp) like the real one, can go down, refuse, or deny access. */
export class FakeInfluxClient implements InfluxClient {
  mode: FakeMode = 'up';
  /** Answer for setup (ensureTarget): 'up' creates, 'forbidden' is a write-only user (403). */
  setup: 'up' | 'forbidden' = 'up';
  readonly stored = new Map<string, StoredLine>();
  readonly batches: number[] = [];
  ensureCalls = 0;
  failedWrites = 0;

  async ensureTarget(_target: InfluxTarget): Promise<void> {
    this.ensureCalls += 1;
    if (this.mode === 'down') throw new InfluxWriteError('connect ECONNREFUSED', true);
    if (this.mode === 'unauthorized' || this.setup === 'forbidden') throw new InfluxWriteError('HTTP 403 not authorized', true, 403);
  }

  async writeLines(lines: readonly string[], _target: InfluxTarget): Promise<void> {
    await Promise.resolve();
    if (this.mode === 'down') {
      this.failedWrites += 1;
      throw new InfluxWriteError('connect ECONNREFUSED', true);
    }
    if (this.mode === 'unauthorized') {
      this.failedWrites += 1;
      throw new InfluxWriteError('HTTP 401 authorization failed', true, 401);
    }
    if (this.mode === 'reject') throw new InfluxWriteError('HTTP 400 field type conflict', false, 400);
    this.batches.push(lines.length);
    for (const line of lines) {
      const parsed = splitLine(line);
      this.stored.set(`${parsed.series}|${parsed.timestamp}`, parsed);
    }
  }

  /** The fields of stored points of a measurement, as text. */
  storedFields(measurement: string): string[] {
    return [...this.stored.values()].filter((line) => line.measurement === measurement).map((line) => line.fields);
  }

  storedIds(measurement = 'inference'): string[] {
    return this.storedFields(measurement).map((fields) => /(?:^|,)id="((?:[^"\\]|\\.)*)"/.exec(fields)?.[1] ?? '?');
  }
}

export function result(id: string, overrides: Partial<FrameResult> = {}): FrameResult {
  return {
    flow: 'line1',
    id,
    captureTs: 1_764_000_000_000,
    captureTsSource: 'device',
    model: 'neu-surface',
    modelVersion: '3fa9c2d1e0b4',
    engine: 'onnx',
    outcome: 'ok',
    exit: 2,
    classIndex: 1,
    className: 'inclusion',
    confidence: 0.93,
    queueMs: 1.5,
    inferMs: 4.25,
    e2eMs: 12.5,
    deadlineMs: 50,
    deadlineMet: true,
    configVersion: 3,
    ...overrides,
  };
}

export async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

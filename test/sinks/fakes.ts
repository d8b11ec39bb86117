import pino from 'pino';
import type { FrameResult } from '../../src/core/frame.ts';
import type { InfluxClient, InfluxTarget } from '../../src/sinks/influx-client.ts';
import type { InfluxPoint } from '../../src/sinks/influx-point.ts';
import { InfluxWriteError } from '../../src/sinks/sink-errors.ts';

export const silentLogger = pino({ level: 'silent' });

/** A logger that keeps its lines, to check what is (and is not) logged. */
export function recordingLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (chunk: string) => void chunks.push(chunk) });
  return { logger, lines: () => chunks.map((chunk) => JSON.parse(chunk) as Record<string, unknown>) };
}

export type FakeMode = 'up' | 'down' | 'reject';

/** In-memory InfluxDB: stores points by (measurement, tags, timestamp) like the real one, can go down or refuse. */
export class FakeInfluxClient implements InfluxClient {
  mode: FakeMode = 'up';
  readonly stored = new Map<string, InfluxPoint>();
  readonly batches: number[] = [];
  ensureCalls = 0;
  failedWrites = 0;

  async ensureTarget(_target: InfluxTarget): Promise<void> {
    this.ensureCalls += 1;
    if (this.mode === 'down') throw new InfluxWriteError('connect ECONNREFUSED', true);
  }

  async writePoints(points: readonly InfluxPoint[], _target: InfluxTarget): Promise<void> {
    await Promise.resolve();
    if (this.mode === 'down') {
      this.failedWrites += 1;
      throw new InfluxWriteError('connect ECONNREFUSED', true);
    }
    if (this.mode === 'reject') throw new InfluxWriteError('HTTP 400 field type conflict', false, 400);
    this.batches.push(points.length);
    for (const point of points) this.stored.set(`${point.measurement}|${JSON.stringify(point.tags)}|${point.timestamp}`, point);
  }

  storedIds(measurement = 'inference'): string[] {
    return [...this.stored.values()].filter((point) => point.measurement === measurement).map((point) => String(point.fields.id));
  }
}

export function result(id: string, overrides: Partial<FrameResult> = {}): FrameResult {
  return {
    flow: 'line1',
    id,
    captureTs: 1_764_000_000_000,
    captureTsSource: 'device',
    model: 'neu-surface',
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

import { InfluxDB } from 'influx';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { FrameResult } from '../../../src/core/frame.ts';
import { createInfluxWriter } from '../../../src/sinks/create-influx-writer.ts';
import type { InfluxWriter } from '../../../src/sinks/influx-writer.ts';
import { LINE_PROTOCOL_HOSTILE } from '../../helpers/hostile-strings.ts';

const DATABASE = 'edgeke_escaping';
/** Inside the 1-day retention policy (InfluxDB drops points older than it). */
const BASE_TS = Math.floor(Date.now() / 1000) * 1000 - 60_000;
const NASTY = [
  'plain',
  ...LINE_PROTOCOL_HOSTILE,
  '#hash and $dollar',
  '{"json": [1, 2]}',
];

function result(id: string, overrides: Partial<FrameResult> = {}): FrameResult {
  return {
    flow: 'escaping',
    id,
    captureTs: BASE_TS,
    captureTsSource: 'device',
    model: 'neu-surface',
    engine: 'onnx',
    outcome: 'ok',
    exit: 1,
    classIndex: 0,
    className: 'crazing',
    confidence: 0.5,
    queueMs: 1,
    inferMs: 2,
    e2eMs: 3,
    deadlineMs: 50,
    deadlineMet: true,
    configVersion: 1,
    ...overrides,
  };
}

describe('InfluxDB sink against a real InfluxDB: escaping', () => {
  let writer: InfluxWriter;
  let influx: InfluxDB;

  beforeAll(async () => {
    const url = inject('influxUrl');
    writer = await createInfluxWriter('escaping', {
      url,
      database: DATABASE,
      retentionPolicy: { name: 'edgeke', duration: '1d' },
      batchSize: 500,
      flushIntervalMs: 100,
      bufferMaxPoints: 10_000,
      spillMaxBytes: 1_000_000,
      statsIntervalMs: 60_000,
    }, { logger: pino({ level: process.env.EDGEKE_TEST_LOG ?? 'silent' }) });
    influx = new InfluxDB({ host: '127.0.0.1', port: Number(new URL(url).port), database: DATABASE });
  });

  afterAll(async () => {
    await writer.close(5_000);
  });

  it('round-trips string fields and tag values with special characters in one batch, or refuses the point alone', async () => {
    const refusedModels: string[] = [];
    for (const [index, text] of NASTY.entries()) {
      // string fields: id, class, reason
      await writer.write(result(`${text}#${index}`, { className: text, reason: text, outcome: 'late', captureTs: BASE_TS + index }));
      // tag value: model (refused points are settled and counted, not rejected)
      const droppedBefore = writer.droppedPoints;
      await writer.write(result(`model-${index}`, { model: text, captureTs: BASE_TS + 1_000 + index }));
      if (writer.droppedPoints > droppedBefore) refusedModels.push(text);
    }
    const report = await writer.flush(10_000);
    expect(report.remaining).toBe(0);
    expect(writer.droppedPoints).toBe(refusedModels.length);
    // Only what line protocol cannot carry in a tag is refused.
    expect(refusedModels).toEqual(['trailing backslash\\', 'new\nline', 'carriage\r\nreturn']);

    const fields = await influx.query<{ id: string; class: string; reason: string }>(`SELECT "id", "class", "reason" FROM "edgeke"."inference" WHERE "outcome" = 'late'`);
    const byId = new Map(fields.map((row) => [row.id, row]));
    for (const [index, text] of NASTY.entries()) {
      const row = byId.get(`${text}#${index}`);
      expect(row, JSON.stringify(text)).toBeDefined();
      expect(row?.class).toBe(text);
      expect(row?.reason).toBe(text);
    }

    const models = await influx.query<{ model: string; id: string }>(`SELECT "id", "model" FROM "edgeke"."inference" WHERE "id" =~ /^model-/`);
    expect(models.map((row) => row.model).sort()).toEqual(NASTY.filter((text) => !refusedModels.includes(text)).sort());
  });

  it('writes the documented field types (integers as integers, booleans as booleans)', async () => {
    await writer.write(result('typed', { label: 0, deviceClockSkewMs: -4.5, device: 'plant/line1/cam7' }));
    await writer.flush(10_000);
    const keys = await influx.query<{ fieldKey: string; fieldType: string }>('SHOW FIELD KEYS FROM "edgeke"."inference"');
    const types = Object.fromEntries(keys.map((row) => [row.fieldKey, row.fieldType]));
    expect(types).toMatchObject({
      id: 'string',
      class: 'string',
      class_index: 'integer',
      confidence: 'float',
      label: 'integer',
      correct: 'boolean',
      e2e_ms: 'float',
      deadline_met: 'boolean',
      config_version: 'integer',
      capture_ts_source: 'string',
      device_clock_skew_ms: 'float',
      device: 'string',
    });
  });

  it('counts only the points InfluxDB drops from a partial write (a device clock older than the retention)', async () => {
    const before = writer.droppedPoints;
    await writer.write(result('too-old', { captureTs: BASE_TS - 3 * 24 * 3600 * 1000 }));
    for (let index = 0; index < 5; index += 1) await writer.write(result(`fresh-${index}`, { captureTs: BASE_TS + 3_000 + index }));
    await writer.flush(10_000);
    expect(writer.droppedPoints - before).toBe(1);
    const rows = await influx.query<{ id: string }>(`SELECT "id" FROM "edgeke"."inference" WHERE "id" =~ /^fresh-/`);
    expect(rows).toHaveLength(5);
  });

  it('overwrites a retried point instead of duplicating it (deterministic timestamps)', async () => {
    for (let attempt = 0; attempt < 3; attempt += 1) await writer.write(result('retried-frame', { captureTs: BASE_TS + 2_000 }));
    await writer.write(result('same-ms-other-frame', { captureTs: BASE_TS + 2_000 }));
    await writer.flush(10_000);
    const rows = await influx.query<{ id: string }>(`SELECT "id" FROM "edgeke"."inference" WHERE time >= ${BASE_TS + 2_000}ms AND time < ${BASE_TS + 2_001}ms`);
    expect(rows.map((row) => row.id).sort()).toEqual(['retried-frame', 'same-ms-other-frame']);
  });
});

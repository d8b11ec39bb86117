import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InfluxDB } from 'influx';
import { describe, expect, inject, it } from 'vitest';
import type { FrameResult } from '../../../src/core/frame.ts';
import { inferencePoint } from '../../../src/sinks/inference-point.ts';
import { lineProtocol } from '../../../src/sinks/line-protocol.ts';
import { lineProtocolFileClient } from '../../../src/sinks/line-protocol-file.ts';
import { findBinary } from '../../helpers/find-binary.ts';

// The demo's telemetry file (no InfluxDB reachable) must load with `influx -import` as the README says.
describe('line-protocol telemetry file', () => {
  it('imports into a real InfluxDB with every point and value intact', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'edgeke-lp-')), 'telemetry.lp');
    const database = 'lp_import';
    const client = lineProtocolFileClient(file);
    const target = { database, retentionPolicy: { name: 'edgeke', duration: '30d' } };
    await client.ensureTarget(target);
    const result = (i: number): FrameResult => ({
      flow: 'line 1, "north"',
      id: `frame=${i} \\ "quoted"`,
      captureTs: 1_795_000_000_000 + i,
      captureTsSource: 'device',
      model: 'neu-surface',
      engine: 'onnx',
      outcome: 'ok',
      exit: 2,
      classIndex: 3,
      className: 'pitted_surface',
      confidence: 0.5 + i / 100,
      label: 3,
      queueMs: 1.5,
      inferMs: 2.25,
      e2eMs: 10 + i,
      deadlineMs: 50,
      deadlineMet: true,
      configVersion: 7,
    });
    await client.writeLines(Array.from({ length: 20 }, (_, i) => lineProtocol(inferencePoint(result(i)))), target);

    const url = new URL(inject('influxUrl'));
    execFileSync(findBinary('influx', 'influxdb-client'), ['-host', url.hostname, '-port', url.port, '-import', `-path=${file}`, '-precision=ns'], { stdio: 'pipe' });

    const influx = new InfluxDB({ host: url.hostname, port: Number(url.port), database });
    const rows = await influx.query<{ id: string; flow: string; config_version: number; e2e_ms: number; correct: boolean }>(
      'SELECT "id", "flow", "config_version", "e2e_ms", "correct" FROM "inference" ORDER BY time',
    );
    expect(rows).toHaveLength(20);
    expect(rows[3]).toMatchObject({ id: 'frame=3 \\ "quoted"', flow: 'line 1, "north"', config_version: 7, e2e_ms: 13, correct: true });
  });
});

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InfluxWriter } from '../../src/sinks/influx-writer.ts';
import { WriteAheadLog } from '../../src/sinks/write-ahead-log.ts';
import { FakeInfluxClient, result, silentLogger, waitFor } from '../sinks/fakes.ts';

// Regression (reliability promise 1): once the buffer had emptied, the next point waited for a full batch instead of
// one flush interval, so at low rates nothing was written (and an InfluxDB outage went unnoticed) for seconds.
const TARGET = { database: 'edgeke', retentionPolicy: { name: 'edgeke', duration: '30d' } };
const writers: InfluxWriter[] = [];
afterEach(async () => {
  await Promise.all(writers.splice(0).map((writer) => writer.close(200).catch(() => undefined)));
});

describe('InfluxWriter flush interval', () => {
  it('writes a point that arrives after the buffer emptied within one flush interval, not at the next full batch', async () => {
    const client = new FakeInfluxClient();
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-wal-'));
    const { log } = await WriteAheadLog.open({ dir, flow: 'line1', logger: silentLogger, maxBytes: 2 ** 20, memoryMaxRecords: 10_000 });
    const writer = new InfluxWriter({
      flow: 'line1',
      target: TARGET,
      settings: { batchSize: 500, flushIntervalMs: 50 },
      wal: log,
      client,
      logger: silentLogger,
    });
    writers.push(writer);
    writer.start();
    await waitFor(() => writer.isReady);
    await writer.write(result('first', { captureTs: 1_764_000_000_000 }));
    await waitFor(() => client.stored.size === 1);
    const writtenAt = Date.now();
    await writer.write(result('second', { captureTs: 1_764_000_000_001 }));
    await waitFor(() => client.stored.size === 2);
    // One flush interval (50 ms) plus scheduling slack on a loaded machine; before the fix it never came.
    expect(Date.now() - writtenAt).toBeLessThan(1_000);
  });
});

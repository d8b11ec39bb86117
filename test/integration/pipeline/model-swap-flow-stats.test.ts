import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { FrameResult } from '../../../src/core/frame.ts';
import { loadFlows } from '../../../src/flows/load.ts';
import { EdgekeService } from '../../../src/pipeline/service.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { FakeInfluxClient, type StoredLine } from '../../sinks/fakes.ts';

// A flow pointed at a differently named model while it runs (a live swap): its flow_stats points name the model that
// serves it (tags `model` and `model_version`), not the one it started with.

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'edgeke-swap-stats-'));
const STATS_INTERVAL_MS = 100;

/** The tiny signal model under another manifest name (same input and classes, so it can take the flow over live). */
function modelCopy(name: string): string {
  const to = join(dir, 'models', name);
  cpSync('test/fixtures/tiny-model/signal', to, { recursive: true });
  const file = join(to, 'manifest.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { name: string };
  manifest.name = name;
  writeFileSync(file, JSON.stringify(manifest, null, 1));
  return to;
}

function flowYaml(modelPath: string): string {
  return `
name: line
source: { kind: mqtt, url: "${inject('mosquittoUrl')}", topic: "swap-stats/${process.pid}", qos: 1, clientId: swap-stats-${process.pid} }
decode: json-values
model: { path: ${modelPath} }
policy: { mode: deadline, deadlineMs: 5000, latePolicy: answer-late }
batching: { maxBatch: 4, maxWaitMs: 1 }
sinks:
  influx: { url: "http://127.0.0.1:1", database: swapstats, flushIntervalMs: 50, statsIntervalMs: ${STATS_INTERVAL_MS}, walDir: ${join(dir, "wal")} }
`;
}

interface StatsPoint {
  model: string | undefined;
  modelVersion: string | undefined;
  frames: number;
  timestampMs: number;
}

function statsPoints(client: FakeInfluxClient): StatsPoint[] {
  const tag = (line: StoredLine, name: string): string | undefined => new RegExp(`,${name}=([^,]+)`).exec(line.series)?.[1];
  return [...client.stored.values()]
    .filter((line) => line.measurement === 'flow_stats')
    .map((line) => ({
      model: tag(line, 'model'),
      modelVersion: tag(line, 'model_version'),
      frames: Number(/(?:^|,)frames=(\d+)i/.exec(line.fields)?.[1] ?? Number.NaN),
      timestampMs: Number(BigInt(line.timestamp) / 1_000_000n),
    }))
    .sort((a, b) => a.timestampMs - b.timestampMs);
}

describe('flow_stats across a live model swap', () => {
  let service: EdgekeService | undefined;

  afterAll(async () => {
    await service?.stop(5_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('tags the points after the swap with the new model name and version', async () => {
    const first = modelCopy('tiny-signal-first');
    const second = modelCopy('tiny-signal-second');
    const flowsDir = join(dir, 'flows');
    mkdirSync(flowsDir);
    const flowFile = join(flowsDir, 'line.yaml');
    writeFileSync(flowFile, flowYaml(first));
    const client = new FakeInfluxClient();
    const results: FrameResult[] = [];
    service = await EdgekeService.start(await loadFlows([flowsDir]), {
      logger,
      profileCacheDir: join(dir, 'profiles'),
      profileRepeats: 3,
      influxClientFactory: () => client,
      onResult: (result) => results.push(result),
    });
    const firstVersion = service.modelVersionOf('line');
    expect(firstVersion).toMatch(/^[0-9a-f]{12}$/);

    const publisher = await mqtt.connectAsync(inject('mosquittoUrl'), { protocolVersion: 5, clientId: `swap-stats-pub-${process.pid}` });
    let seq = 0;
    const sendSome = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        seq += 1;
        const values = Array.from({ length: 256 }, (_, k) => Math.sin(k / 5 + seq));
        await publisher.publishAsync(`swap-stats/${process.pid}`, JSON.stringify({ id: `s${seq}`, ts: Date.now(), values }), { qos: 1 });
      }
    };
    let secondVersion: string | undefined;
    let swappedAt = Number.POSITIVE_INFINITY;
    try {
      await sendSome(5);
      await waitFor('a flow_stats point with frames of the first model', () => statsPoints(client).some((p) => p.frames > 0), 15_000);

      writeFileSync(`${flowFile}.tmp`, flowYaml(second));
      renameSync(`${flowFile}.tmp`, flowFile);
      await service.apply(await loadFlows([flowsDir]));
      secondVersion = service.modelVersionOf('line');
      expect(secondVersion).toMatch(/^[0-9a-f]{12}$/);
      expect(secondVersion).not.toBe(firstVersion);
      swappedAt = Date.now();

      await sendSome(5);
      await waitFor('results of the second model', () => results.filter((r) => r.model === 'tiny-signal-second').length === 5, 15_000);
      // Two full intervals after the last frame: the point holding it has been written.
      const lastAnswered = Date.now();
      await waitFor('flow_stats past the last frame', () => statsPoints(client).some((p) => p.timestampMs > lastAnswered + 2 * STATS_INTERVAL_MS), 15_000);
    } finally {
      await publisher.endAsync();
    }
    expect(await service.stop(5_000)).toBe(true);

    const points = statsPoints(client);
    const before = points.filter((p) => p.model === 'tiny-signal-first');
    const after = points.filter((p) => p.model === 'tiny-signal-second');
    expect(before.length, 'points of the first model').toBeGreaterThan(0);
    expect(after.length, 'points of the second model').toBeGreaterThan(0);
    expect(new Set(before.map((p) => p.modelVersion))).toEqual(new Set([firstVersion]));
    expect(new Set(after.map((p) => p.modelVersion))).toEqual(new Set([secondVersion]));
    // The tag follows the swap: once the second model serves, no point names the first (an interval is tagged with
    // the model serving at its end), and the points after the swap hold the second model's frames.
    const firstOfSecond = Math.min(...after.map((p) => p.timestampMs));
    expect(before.every((p) => p.timestampMs < firstOfSecond)).toBe(true);
    expect(points.filter((p) => p.timestampMs > swappedAt + STATS_INTERVAL_MS).every((p) => p.model === 'tiny-signal-second')).toBe(true);
    expect(after.reduce((sum, p) => sum + p.frames, 0)).toBeGreaterThanOrEqual(5);
    // Every frame is counted once, in one interval or another.
    expect(points.reduce((sum, p) => sum + p.frames, 0)).toBe(results.length);
    expect(results.map((r) => r.model)).toEqual([...Array<string>(5).fill('tiny-signal-first'), ...Array<string>(5).fill('tiny-signal-second')]);
  });
});

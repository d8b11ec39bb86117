import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Subject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawMessage } from '../../src/core/frame.ts';
import { createDecoder } from '../../src/decode/create-decoder.ts';
import { flowSchema, type FlowConfig } from '../../src/flows/schema.ts';
import { FlowPipeline } from '../../src/pipeline/flow-pipeline.ts';
import { ModelBinding } from '../../src/pipeline/model-binding.ts';
import { switchBetweenBatches } from '../../src/pipeline/model-replacement.ts';
import { ModelSwapError, swapFailureOf } from '../../src/pipeline/model-swap-error.ts';
import { folderModelHash, modelVersionOf, openSharedModel, swapIncompatibility, type SharedModel } from '../../src/pipeline/shared-model.ts';
import { MemorySink } from './memory-sink.ts';

// Swapping the model under a running flow (ModelBinding, switchBetweenBatches, openSharedModel's checks), with
// real tiny models: frames submitted before the switch finish on the old model, the rest run on the new one, the new
// one's first batch waits for the old one's last, and every frame has exactly one result naming its model version.

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'edgeke-swap-unit-'));
const profileCacheDir = join(dir, 'profiles');

/** A copy of a fixture model whose manifest differs in `edit` (another version of the same model). */
function copyModel(from: string, name: string, edit: (manifest: Record<string, unknown>) => void = () => undefined): string {
  const to = join(dir, name);
  cpSync(from, to, { recursive: true });
  const file = join(to, 'manifest.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(manifest);
  writeFileSync(file, JSON.stringify(manifest, null, 1));
  return to;
}

const open = (path: string): Promise<SharedModel> =>
  openSharedModel({ path, engine: 'onnx', threads: 1 }, { logger, maxBatch: 8, profileCacheDir, profileRepeats: 3 });

function flowConfig(modelPath: string): FlowConfig {
  return flowSchema.parse({
    name: 'vibration',
    source: { kind: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'plant/vibration' },
    decode: 'json-values',
    model: { path: modelPath },
    policy: { deadlineMs: 10_000, latePolicy: 'answer-late' },
    batching: { maxBatch: 4, maxWaitMs: 1 },
    limits: { queueCapacity: 256 },
  });
}

function message(id: string, acks: string[]): RawMessage {
  const values = Array.from({ length: 256 }, (_, i) => Math.sin(i / 7 + id.length));
  return { flow: 'vibration', origin: 'plant/vibration', payload: { kind: 'bytes', bytes: Buffer.from(JSON.stringify({ id, ts: Date.now(), values })) }, receivedTs: Date.now(), ack: () => acks.push(id) };
}

describe('model swaps under a running flow', () => {
  let v1: SharedModel;
  let v2: SharedModel;

  beforeAll(async () => {
    v1 = await open(copyModel('test/fixtures/tiny-model/signal', 'v1'));
    // Recalibrated: exit 1's validation accuracy measured again.
    v2 = await open(copyModel('test/fixtures/tiny-model/signal', 'v2', (manifest) => ((manifest.exits as { validationAccuracy: number }[])[0]!.validationAccuracy -= 0.01)));
  });

  afterAll(async () => {
    await v1.loaded.close();
    await v2.loaded.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names each model by the content hash of its folder', async () => {
    expect(v1.version).toMatch(/^[0-9a-f]{12}$/);
    expect(v1.version).toBe(modelVersionOf(await folderModelHash(v1.path)));
    expect(v2.version).not.toBe(v1.version);
    expect(v1.executor.modelVersion).toBe(v1.version);
  });

  it('finishes frames already at the old model there, runs the rest on the new one, and loses none', async () => {
    const binding = new ModelBinding(v1);
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const acks: string[] = [];
    const manifest = v1.loaded.manifest;
    const config = flowConfig(v1.path);
    const pipeline = new FlowPipeline({
      config,
      configVersion: 1,
      source,
      decoder: createDecoder(config.decode, { flow: config.name, input: manifest.input, classes: manifest.classes, maxPayloadBytes: config.limits.maxPayloadBytes }),
      executor: binding,
      model: { name: manifest.name, engine: 'onnx', classes: manifest.classes },
      sinks: [sink],
      logger,
    });
    pipeline.start();
    for (let i = 0; i < 30; i++) source.next(message(`a${i}`, acks));
    // Wait until some frames are queued at the old model (decoded, not yet answered), then switch.
    const until = Date.now() + 10_000;
    while (v1.executor.queueDepth('vibration') === 0 && sink.results.length < 30 && Date.now() < until) await new Promise((resolve) => setImmediate(resolve));
    const queuedAtOld = v1.executor.queueDepth('vibration');
    const answeredAtSwitch = sink.results.length;
    expect(queuedAtOld, 'frames waiting at the old model when it is switched out').toBeGreaterThan(0);
    const switched = switchBetweenBatches(v1, v2, [{ name: 'vibration', binding }]);
    expect(binding.modelVersion).toBe(v2.version);
    // Frames still at the old model count for the flow's admission until they are done.
    expect(binding.queueDepth('vibration')).toBeGreaterThanOrEqual(queuedAtOld);
    for (let i = 0; i < 30; i++) source.next(message(`b${i}`, acks));
    expect(await pipeline.stop(20_000)).toBe(true);
    await switched;

    expect(sink.results).toHaveLength(60);
    expect(new Set(sink.results.map((r) => r.id)).size).toBe(60);
    expect(new Set(acks).size).toBe(60);
    expect(sink.results.filter((r) => r.outcome !== 'ok' && r.outcome !== 'late')).toEqual([]);
    // Frames sent after the switch all ran on the new model ...
    expect(sink.results.filter((r) => r.id.startsWith('b') && r.modelVersion !== v2.version)).toEqual([]);
    // ... the frames queued at the old model at the switch finished there ...
    expect(sink.results.slice(answeredAtSwitch).filter((r) => r.modelVersion === v1.version).length).toBeGreaterThanOrEqual(queuedAtOld);
    // ... every result names one of the two ...
    expect(new Set(sink.results.map((r) => r.modelVersion))).toEqual(new Set([v1.version, v2.version]));
    // ... and the new model answered nothing before the old one had finished its last frame (no two at once).
    const lastOld = sink.results.findLastIndex((r) => r.modelVersion === v1.version);
    const firstNew = sink.results.findIndex((r) => r.modelVersion === v2.version);
    expect(lastOld).toBeLessThan(firstNew);
    expect(v1.executor.busy).toBe(false);
  });

  it('refuses a model that does not load, that takes another input or classes, or that does not answer', async () => {
    const truncated = copyModel('test/fixtures/tiny-model/signal', 'truncated');
    truncateSync(join(truncated, 'stage2.onnx'), 100);
    const notLoaded = await open(truncated).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(notLoaded).toBeInstanceOf(Error);
    expect(swapFailureOf(notLoaded)).toBe('load-failed');

    const image = await open('test/fixtures/tiny-model/image');
    try {
      expect(swapIncompatibility(v1, image)?.reason).toBe('input-changed');
    } finally {
      await image.loaded.close();
    }
    const renamed = await open(copyModel('test/fixtures/tiny-model/signal', 'renamed-classes', (manifest) => (manifest.classes = ['v', 'w', 'x', 'y', 'z'])));
    try {
      expect(swapIncompatibility(v1, renamed)?.reason).toBe('classes-changed');
      expect(swapIncompatibility(v1, v2)).toBeUndefined();
    } finally {
      await renamed.loaded.close();
    }
    // One class more than its graphs have logits for: loads, but its validation run gives 5 probabilities for 6.
    const extraClass = copyModel('test/fixtures/tiny-model/signal', 'extra-class', (manifest) => (manifest.classes = [...(manifest.classes as string[]), 'f']));
    const invalid = await open(extraClass).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(invalid).toBeInstanceOf(ModelSwapError);
    expect(swapFailureOf(invalid)).toBe('validation-failed');
  });
});

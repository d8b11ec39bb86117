import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { Subject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RawMessage } from '../../src/core/frame.ts';
import { createDecoder } from '../../src/decode/create-decoder.ts';
import type { Decoder } from '../../src/decode/decoder.ts';
import { flowSchema, type FlowConfig } from '../../src/flows/schema.ts';
import { FlowPipeline } from '../../src/pipeline/flow-pipeline.ts';
import { openSharedModel, type SharedModel } from '../../src/pipeline/shared-model.ts';
import { MemorySink } from './memory-sink.ts';

const MODEL_DIR = 'test/fixtures/tiny-model/signal';
const logger = pino({ level: 'silent' });

function flowConfig(overrides: Record<string, unknown> = {}): FlowConfig {
  return flowSchema.parse({
    name: 'vibration',
    source: { kind: 'mqtt', url: 'mqtt://127.0.0.1:1883', topic: 'plant/vibration' },
    decode: 'json-values',
    model: { path: MODEL_DIR },
    policy: { deadlineMs: 5_000 },
    ...overrides,
  });
}

function message(id: string, values: number[] | string, acks: string[], captureTs = Date.now()): RawMessage {
  const body = typeof values === 'string' ? values : JSON.stringify({ id, ts: captureTs, values, label: 1 });
  return { flow: 'vibration', origin: 'plant/vibration', payload: { kind: 'bytes', bytes: Buffer.from(body) }, receivedTs: Date.now(), ack: () => acks.push(id) };
}

function sine(phase: number): number[] {
  return Array.from({ length: 256 }, (_, i) => Math.sin(i / 7 + phase));
}

describe('FlowPipeline with a real multi-exit model', () => {
  let model: SharedModel;

  beforeAll(async () => {
    model = await openSharedModel({ path: MODEL_DIR, engine: 'onnx', threads: 1 }, {
      logger,
      maxBatch: 8,
      profileCacheDir: mkdtempSync(join(tmpdir(), 'edgeke-profile-')),
      profileRepeats: 5,
    });
  });

  afterAll(async () => {
    await model.loaded.close();
  });

  function pipelineFor(config: FlowConfig, sink: MemorySink, source: Subject<RawMessage>): FlowPipeline {
    const manifest = model.loaded.manifest;
    return new FlowPipeline({
      config,
      configVersion: 1,
      source,
      decoder: createDecoder(config.decode, { flow: config.name, input: manifest.input, classes: manifest.classes, maxPayloadBytes: config.limits.maxPayloadBytes }),
      executor: model.executor,
      model: { name: manifest.name, engine: 'onnx', classes: manifest.classes },
      sinks: [sink],
      logger,
    });
  }

  /** A pipeline whose decoder records the id of every frame it decodes, taking `decodeMs` off this thread first. */
  function countingPipeline(
    config: FlowConfig,
    sink: MemorySink,
    source: Subject<RawMessage>,
    options: { decodeMs?: number; decodeConcurrency?: number } = {},
  ): { pipeline: FlowPipeline; decoded: string[] } {
    const manifest = model.loaded.manifest;
    const decoder = createDecoder(config.decode, { flow: config.name, input: manifest.input, classes: manifest.classes, maxPayloadBytes: config.limits.maxPayloadBytes });
    const decoded: string[] = [];
    const counting: Decoder = {
      kind: decoder.kind,
      decode: async (m) => {
        if (options.decodeMs !== undefined) await new Promise((resolve) => setTimeout(resolve, options.decodeMs));
        decoded.push(m.payload.kind === 'bytes' ? (JSON.parse(m.payload.bytes.toString()) as { id: string }).id : '?');
        return decoder.decode(m);
      },
    };
    const pipeline = new FlowPipeline({
      config,
      configVersion: 1,
      source,
      decoder: counting,
      ...(options.decodeConcurrency === undefined ? {} : { decodeConcurrency: options.decodeConcurrency }),
      executor: model.executor,
      model: { name: manifest.name, engine: 'onnx', classes: manifest.classes },
      sinks: [sink],
      logger,
    });
    return { pipeline, decoded };
  }

  it('answers every frame exactly once and acknowledges it only after the sink holds its result', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const acks: string[] = [];
    const pipeline = pipelineFor(flowConfig(), sink, source);
    pipeline.start();
    for (let i = 0; i < 40; i++) source.next(message(`f${i}`, sine(i), acks));
    source.next(message('broken', '{"id": "broken", "values": [1, 2', acks));
    source.next(message('nan', JSON.stringify({ id: 'nan', values: [...sine(0).slice(1), 'x'] }), acks));
    expect(await pipeline.stop(10_000)).toBe(true);

    // Undecodable payloads carry no readable id: their results get a generated one.
    expect(new Set(sink.results.map((r) => r.id)).size).toBe(42);
    expect(new Set(acks).size).toBe(42);
    const ok = sink.results.filter((r) => r.outcome === 'ok');
    expect(ok).toHaveLength(40);
    for (const result of ok) {
      expect(result.exit).toBeGreaterThanOrEqual(1);
      expect(result.className).toBe(model.loaded.manifest.classes[result.classIndex ?? -1]);
      expect(result.deadlineMet).toBe(true);
      expect(result.label).toBe(1);
    }
    const errors = sink.results.filter((r) => r.outcome === 'error');
    expect(errors.map((r) => r.reason).sort()).toEqual(['bad-field-type', 'bad-json'].sort());
  });

  it('leaves the model free, with no backlog, once its last batch ended, however long the plan predicted it', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const pipeline = pipelineFor(flowConfig(), sink, source);
    pipeline.start();
    for (let i = 0; i < 24; i++) source.next(message(`b${i}`, sine(i), []));
    expect(await pipeline.stop(10_000)).toBe(true);
    await model.executor.drained();
    expect(sink.results.filter((r) => r.outcome === 'ok')).toHaveLength(24);
    // Arrival admission sheds a frame as 'overload' when this backlog leaves it no time: an idle model has none.
    expect(model.executor.backlogMs()).toBe(0);
  });

  it('sheds frames whose deadline passed before they arrived, with a reason', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const acks: string[] = [];
    const pipeline = pipelineFor(flowConfig({ policy: { deadlineMs: 50, latePolicy: 'shed' } }), sink, source);
    pipeline.start();
    source.next(message('stale', sine(0), acks, Date.now() - 10_000));
    source.next(message('fresh', sine(1), acks));
    expect(await pipeline.stop(10_000)).toBe(true);
    const byId = new Map(sink.results.map((r) => [r.id, r]));
    expect(byId.get('stale')).toMatchObject({ outcome: 'shed', reason: 'no-slack' });
    expect(byId.get('fresh')?.outcome).toMatch(/ok|late/);
    expect(acks.sort()).toEqual(['fresh', 'stale']);
  });

  it('keeps the envelope id and ts of a window rejected after parsing', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const acks: string[] = [];
    const pipeline = pipelineFor(flowConfig(), sink, source);
    pipeline.start();
    const ts = Date.now() - 20;
    source.next(message('short', JSON.stringify({ id: 'short-1', ts, values: [1, 2, 3], label: 1 }), acks));
    source.next(message('text', JSON.stringify({ id: 'text-1', ts, values: [...sine(0).slice(1), 'x'] }), acks));
    source.next(message('label', JSON.stringify({ id: 'label-1', ts, values: sine(0), label: 99 }), acks));
    expect(await pipeline.stop(10_000)).toBe(true);
    const byId = new Map(sink.results.map((r) => [r.id, r]));
    expect(byId.get('short-1')).toMatchObject({ outcome: 'error', reason: 'wrong-shape', captureTs: ts, captureTsSource: 'device', label: 1 });
    expect(byId.get('text-1')).toMatchObject({ outcome: 'error', reason: 'bad-field-type', captureTs: ts, captureTsSource: 'device' });
    expect(byId.get('label-1')).toMatchObject({ outcome: 'error', reason: 'bad-field-type', captureTs: ts, captureTsSource: 'device' });
  });

  it('does not trust capture times from a clock ahead, never reports a negative latency, and sheds stale frames', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const acks: string[] = [];
    const skews = new Map<string, number>();
    let untrusted = 0;
    const manifest = model.loaded.manifest;
    const config = flowConfig({ policy: { deadlineMs: 1_000, latePolicy: 'shed' } });
    const pipeline = new FlowPipeline({
      config,
      configVersion: 1,
      source,
      decoder: createDecoder(config.decode, { flow: config.name, input: manifest.input, classes: manifest.classes, maxPayloadBytes: config.limits.maxPayloadBytes }),
      executor: model.executor,
      model: { name: manifest.name, engine: 'onnx', classes: manifest.classes },
      sinks: [sink],
      logger,
      clockEvents: { onSkew: (device, skewMs) => skews.set(device, skewMs), onUntrusted: () => (untrusted += 1) },
    });
    pipeline.start();
    for (let i = 0; i < 10; i++) {
      source.next({ ...message(`ahead-${i}`, sine(i), acks, Date.now() + 300), origin: 'plant/ahead' });
      source.next({ ...message(`behind-${i}`, sine(i), acks, Date.now() - 5_000), origin: 'plant/behind' });
    }
    expect(await pipeline.stop(10_000)).toBe(true);
    const ahead = sink.results.filter((r) => r.id.startsWith('ahead-'));
    const behind = sink.results.filter((r) => r.id.startsWith('behind-'));
    expect(ahead).toHaveLength(10);
    for (const result of ahead) {
      expect(result.outcome).toMatch(/ok|late/);
      expect(result.captureTsSource).toBe('receive');
      expect(result.e2eMs).toBeGreaterThanOrEqual(0);
      expect(result.deviceClockSkewMs).toBeGreaterThan(200);
      expect(result.device).toBe('plant/ahead');
    }
    expect(untrusted).toBe(10);
    expect(behind.map((r) => [r.outcome, r.reason])).toEqual(new Array(10).fill(['shed', 'no-slack']));
    for (const result of behind) {
      expect(result.e2eMs).toBeGreaterThan(4_900);
      // Shed before decoding, still attributed to its device with the skew it was judged by.
      expect(result.device).toBe('plant/behind');
      expect(result.deviceClockSkewMs).toBeLessThan(-4_900);
    }
    expect(skews.get('plant/ahead')).toBeGreaterThan(200);
    expect(skews.get('plant/behind')).toBeLessThan(-4_900);
    expect(acks).toHaveLength(20);
  });

  it('sheds without decoding a message that waited past its deadline before decoding', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const acks: string[] = [];
    const config = flowConfig({ policy: { deadlineMs: 50, latePolicy: 'shed' } });
    const { pipeline, decoded } = countingPipeline(config, sink, source);
    pipeline.start();
    // Received 10 s ago (a backlog in front of the decoders), captured just now by its own clock.
    source.next({ ...message('queued', sine(0), acks), receivedTs: Date.now() - 10_000 });
    source.next(message('fresh', sine(1), acks));
    expect(await pipeline.stop(10_000)).toBe(true);
    // Undecoded, its id (inside the payload) is unknown: the result gets a generated one, like a queue-full shed.
    expect(sink.results).toHaveLength(2);
    expect(sink.results.find((r) => r.id !== 'fresh')).toMatchObject({ outcome: 'shed', reason: 'no-slack' });
    expect(sink.results.find((r) => r.id === 'fresh')?.outcome).toMatch(/ok|late/);
    expect(decoded).toEqual(['fresh']);
    expect(acks.sort()).toEqual(['fresh', 'queued']);
  });

  it('lets one frame a deadline through while none passes the arrival check, so estimates made too pessimistic recover', async () => {
    // Its own model: the stall taught its latency model that stage 1 takes seconds, so every frame "misses" even alone.
    const stalled = await openSharedModel({ path: MODEL_DIR, engine: 'onnx', threads: 1 }, {
      logger,
      maxBatch: 8,
      profileCacheDir: mkdtempSync(join(tmpdir(), 'edgeke-profile-')),
      profileRepeats: 3,
    });
    try {
      for (let i = 0; i < 60; i++) stalled.estimator.observe({ stage: 1, batchSize: 1, ms: 60_000 });
      expect(stalled.estimator.stageMs(1, 1, 0.5)).toBeGreaterThan(1_000);
      const sink = new MemorySink();
      const source = new Subject<RawMessage>();
      const acks: string[] = [];
      const config = flowConfig({ policy: { deadlineMs: 50, latePolicy: 'shed' } });
      const manifest = stalled.loaded.manifest;
      const decoder = createDecoder(config.decode, { flow: config.name, input: manifest.input, classes: manifest.classes, maxPayloadBytes: config.limits.maxPayloadBytes });
      const decoded: string[] = [];
      const pipeline = new FlowPipeline({
        config,
        configVersion: 1,
        source,
        decoder: { kind: decoder.kind, decode: (m) => (decoded.push('x'), decoder.decode(m)) },
        executor: stalled.executor,
        model: { name: manifest.name, engine: 'onnx', classes: manifest.classes },
        sinks: [sink],
        logger,
      });
      pipeline.start();
      // 40 frames, one every 10 ms: 400 ms or more, eight deadlines or more.
      for (let i = 0; i < 40; i++) {
        source.next(message(`p${i}`, sine(i), acks));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(await pipeline.stop(10_000)).toBe(true);
      expect(sink.results).toHaveLength(40);
      expect(acks).toHaveLength(40);
      // The first frame, then one per 50 ms at least (a busy machine only spaces the frames further apart).
      expect(decoded.length).toBeGreaterThanOrEqual(1 + Math.floor((40 * 10) / 50) - 1);
      expect(decoded.length).toBeLessThan(40);
    } finally {
      await stalled.loaded.close();
    }
  });

  it('under a burst far beyond capacity decodes only frames that can make it, freshest first', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const acks: string[] = [];
    const config = flowConfig({ policy: { deadlineMs: 1000, latePolicy: 'shed' }, limits: { maxInFlight: 1000 } });
    // A decoder that takes at least 20 ms per frame off this thread (as images decode on libvips threads): 300 frames
    // need 6 s or more, the 1 s deadline allows at most ~50.
    const { pipeline, decoded } = countingPipeline(config, sink, source, { decodeMs: 20, decodeConcurrency: 1 });
    pipeline.start();
    for (let i = 0; i < 300; i++) source.next(message(`b${i}`, sine(i), acks));
    expect(await pipeline.stop(20_000)).toBe(true);

    // Every message exactly one result, every one acknowledged.
    expect(sink.results).toHaveLength(300);
    expect(acks).toHaveLength(300);
    const byId = new Map(sink.results.map((r) => [r.id, r]));
    // Nothing is decoded only to be shed, but for what a stall of this busy machine breaks after the decision.
    const decodedThenShed = decoded.filter((id) => byId.get(id)?.outcome === 'shed');
    expect(decodedThenShed.length).toBeLessThanOrEqual(2 + Math.ceil(decoded.length / 10));
    // The undecoded are shed, counted, with a reason.
    const shed = sink.results.filter((r) => r.outcome === 'shed');
    expect(shed.length).toBeGreaterThanOrEqual(300 - 1000 / 20 - 1);
    expect(new Set(shed.map((r) => r.reason)).size).toBeGreaterThan(0);
    for (const r of shed) expect(['no-slack', 'overload']).toContain(r.reason);
    // Freshest first: after the first frame (decoded at once), the decoder took the newest of the waiting ones.
    const answered = sink.results.filter((r) => r.outcome === 'ok' || r.outcome === 'late');
    // At least a fifth of what the deadline allows, on a machine slowed down fivefold.
    expect(answered.length).toBeGreaterThanOrEqual(10);
    const late = answered.filter((r) => r.id !== 'b0').map((r) => Number(r.id.slice(1)));
    expect(late.every((index) => index >= 150)).toBe(true);
  });

  it('answers late from exit 1 under the answer-late policy', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const pipeline = pipelineFor(flowConfig({ policy: { deadlineMs: 50, latePolicy: 'answer-late' } }), sink, source);
    pipeline.start();
    source.next(message('stale', sine(0), [], Date.now() - 10_000));
    expect(await pipeline.stop(10_000)).toBe(true);
    expect(sink.results[0]).toMatchObject({ id: 'stale', outcome: 'late', exit: 1, deadlineMet: false });
  });

  it('bounds what is in flight: a burst beyond maxInFlight is shed as queue-full, and still answered', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const acks: string[] = [];
    const pipeline = pipelineFor(flowConfig({ limits: { queueCapacity: 4, maxInFlight: 16 }, batching: { maxBatch: 2, maxWaitMs: 0 } }), sink, source);
    pipeline.start();
    for (let i = 0; i < 200; i++) source.next(message(`b${i}`, sine(i), acks));
    expect(await pipeline.stop(20_000)).toBe(true);
    expect(sink.results).toHaveLength(200);
    expect(acks).toHaveLength(200);
    const shed = sink.results.filter((r) => r.outcome === 'shed');
    expect(shed.length).toBeGreaterThan(0);
    expect(new Set(shed.map((r) => r.reason))).toEqual(new Set(['queue-full']));
  });

  it('applies a new deadline from the next frame, with the new config version', async () => {
    const sink = new MemorySink();
    const source = new Subject<RawMessage>();
    const pipeline = pipelineFor(flowConfig(), sink, source);
    pipeline.start();
    source.next(message('before', sine(0), []));
    await new Promise((resolve) => setTimeout(resolve, 200));
    pipeline.applySettings(flowConfig({ policy: { deadlineMs: 1234 } }), 2);
    source.next(message('after', sine(1), []));
    expect(await pipeline.stop(10_000)).toBe(true);
    const byId = new Map(sink.results.map((r) => [r.id, r]));
    expect(byId.get('before')).toMatchObject({ deadlineMs: 5_000, configVersion: 1 });
    expect(byId.get('after')).toMatchObject({ deadlineMs: 1234, configVersion: 2 });
  });
});

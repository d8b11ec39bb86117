import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchContinuation as ControllerContinuation } from '../../src/control/continuation.ts';
import type { FeatureBatch, InferenceEngine, StageResult } from '../../src/model/engines/engine.ts';
import { loadModel, type LoadedModel } from '../../src/model/load-model.ts';
import { inputSize } from '../../src/model/manifest.ts';
import {
  MultiExitRunner,
  stopAtExits,
  stopWhenConfident,
  type ExitDecider,
  type StageTiming,
} from '../../src/model/multi-exit-runner.ts';
import { weightedVote } from '../../src/model/probabilities.ts';
import { IMAGE_MODEL, maxAbsDiff, randomInputs } from './fixtures.ts';

/** Wraps an engine and records every stage call, to prove which stages ran on how many rows. */
class CountingEngine implements InferenceEngine {
  readonly calls: { stage: number; batchSize: number }[] = [];
  /** Whether each call asked for the stage's features (parallel to calls). */
  readonly keptFeatures: boolean[] = [];
  live = 0;
  constructor(private readonly inner: InferenceEngine) {}
  get name() {
    return this.inner.name;
  }
  get backend() {
    return this.inner.backend;
  }
  async runStage(stage: number, input: Float32Array | FeatureBatch, batchSize: number, keepFeatures = true): Promise<StageResult> {
    this.calls.push({ stage, batchSize });
    this.keptFeatures.push(keepFeatures);
    const result = await this.inner.runStage(stage, input, batchSize, keepFeatures);
    if (result.features !== undefined) this.live++;
    return result;
  }
  selectRows(features: FeatureBatch, rows: readonly number[]): FeatureBatch {
    this.live++;
    return this.inner.selectRows(features, rows);
  }
  release(features: FeatureBatch): void {
    this.live--;
    this.inner.release(features);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe.each(['onnx', 'tfjs'] as const)('MultiExitRunner (%s engine)', (engineName) => {
  let model: LoadedModel;
  let engine: CountingEngine;
  let runner: MultiExitRunner;
  let inputs: Float32Array[];

  beforeAll(async () => {
    model = await loadModel(IMAGE_MODEL, { engine: engineName });
    engine = new CountingEngine(model.engine);
    runner = new MultiExitRunner({ manifest: model.manifest, engine });
    inputs = randomInputs(12, inputSize(model.manifest), 3);
  });
  afterAll(() => model.close());

  it('continuing to the next exit reuses the held features: each stage runs once', async () => {
    engine.calls.length = 0;
    const batch = runner.begin(inputs.slice(0, 4));
    const exit1 = await batch.advance();
    expect(exit1.map((o) => o.exit)).toEqual([1, 1, 1, 1]);
    const exit2 = await batch.advance();
    const exit3 = await batch.advance();
    batch.release();
    expect(exit2[0]?.exit).toBe(2);
    expect(exit3[0]?.exit).toBe(3);
    expect(engine.calls).toEqual([
      { stage: 1, batchSize: 4 },
      { stage: 2, batchSize: 4 },
      { stage: 3, batchSize: 4 },
    ]);
    expect(engine.live).toBe(0);
  });

  it('carries on only the frames that continue (compaction)', async () => {
    engine.calls.length = 0;
    const targets = [1, 3, 2, 1, 3, 3, 1, 2];
    const run = await runner.runBatch(inputs.slice(0, 8), { decide: stopAtExits(targets) });
    expect(run.answers.map((a) => a.exit)).toEqual(targets);
    expect(engine.calls).toEqual([
      { stage: 1, batchSize: 8 },
      { stage: 2, batchSize: 5 },
      { stage: 3, batchSize: 3 },
    ]);
    expect(run.timings.map(({ stage, batchSize }) => ({ stage, batchSize }))).toEqual(engine.calls);
    expect(engine.live).toBe(0);
  });

  it('answers each frame of a batch exactly as when it runs alone', async () => {
    // Decisions that depend on the frame and its confidence, so frames leave at different exits.
    const confident = stopWhenConfident([0.3, 0.35, null]);
    const decide: ExitDecider = (frame, exit, confidence, now, output) =>
      frame % 4 === 0 && exit === 1 ? 'stop' : confident(frame, exit, confidence, now, output);
    const batched = await runner.runBatch(inputs, { decide });
    const exits = new Set(batched.answers.map((a) => a.exit));
    expect(exits.size).toBeGreaterThan(1);
    for (const [i, input] of inputs.entries()) {
      const alone = await runner.run(input, { decide: (_f, exit, c, now, out) => decide(i, exit, c, now, out) });
      const together = batched.answers[i];
      expect(together?.exit).toBe(alone.exit);
      expect(together?.output.classIndex).toBe(alone.output.classIndex);
      expect(maxAbsDiff(together?.output.logits ?? [], alone.output.logits)).toBeLessThan(1e-5);
      expect(together?.exits).toHaveLength(alone.exits.length);
    }
  });

  it('lastExit: every frame stops there, with the same answers, and that stage hands out no features', async () => {
    const reference = await runner.runBatch(inputs.slice(0, 4), { decide: stopAtExits([2, 2, 2, 2]) });
    engine.calls.length = 0;
    engine.keptFeatures.length = 0;
    const capped = await runner.runBatch(inputs.slice(0, 4), { lastExit: 2 });
    expect(engine.calls).toEqual([
      { stage: 1, batchSize: 4 },
      { stage: 2, batchSize: 4 },
    ]);
    expect(engine.keptFeatures).toEqual([true, false]);
    expect(engine.live).toBe(0);
    capped.answers.forEach((answer, i) => {
      expect(answer.exit).toBe(2);
      expect(maxAbsDiff(answer.output.logits, reference.answers[i]?.output.logits ?? [])).toBe(0);
    });
    const bare = await model.engine.runStage(1, inputs[0] as Float32Array, 1, false);
    expect(bare.features).toBeUndefined();
    expect(bare.logits.length).toBe(model.manifest.classes.length);
    await expect(runner.runBatch(inputs.slice(0, 1), { lastExit: 4 })).rejects.toThrow(/lastExit must be an exit of the model \(1\.\.3\), got 4/);
    const batch = runner.begin(inputs.slice(0, 2), 1);
    await batch.advance();
    await expect(batch.advance()).rejects.toThrow(/at most 1 stages/);
    batch.release();
    expect(engine.live).toBe(0);
  });

  it('reports every stage execution to listeners', async () => {
    const seen: StageTiming[] = [];
    const unsubscribe = runner.onStageTiming((t) => seen.push(t));
    await runner.runBatch(inputs.slice(0, 3), { decide: stopAtExits([1, 2, 2]) });
    unsubscribe();
    await runner.runBatch(inputs.slice(0, 3));
    expect(seen.map(({ stage, batchSize }) => [stage, batchSize])).toEqual([[1, 3], [2, 2]]);
    for (const t of seen) expect(t.ms).toBeGreaterThanOrEqual(0);
  });

  it('gives deciders an injected clock and the probabilities', async () => {
    let tick = 1000;
    const clocked = new MultiExitRunner({ manifest: model.manifest, engine }, { now: () => (tick += 5) });
    const calls: [number, number, number][] = [];
    const run = await clocked.runBatch(inputs.slice(0, 2), {
      decide: (frame, exit, confidence, now, output) => {
        expect(output.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
        expect(confidence).toBe(Math.max(...output.probabilities));
        calls.push([frame, exit, now]);
        return 'continue';
      },
    });
    expect(calls.map(([f, e]) => [f, e])).toEqual([[0, 1], [1, 1], [0, 2], [1, 2]]);
    expect(run.answers[0]?.exit).toBe(3);
    expect(run.answers[0]?.inferMs).toBeGreaterThan(0);
  });

  it('votes with the manifest weights only when asked', async () => {
    const plain = await runner.run(inputs[0] as Float32Array);
    expect(plain.vote).toBeUndefined();
    const voted = await runner.run(inputs[0] as Float32Array, { vote: true });
    const expected = weightedVote(voted.exits.map((e) => e.probabilities), model.manifest.vote?.weights ?? []);
    expect(maxAbsDiff(voted.vote?.probabilities ?? [], expected)).toBeLessThan(1e-7);
    expect(voted.vote?.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
  });

  it('rejects inputs of the wrong size and frames that already left', async () => {
    expect(() => runner.begin([new Float32Array(3)])).toThrow(/expected 256 input values, got 3/);
    const batch = runner.begin(inputs.slice(0, 3));
    await batch.advance();
    await batch.advance([2, 0]);
    await expect(batch.advance([1])).rejects.toThrow(/frame 1 left the batch/);
    batch.release();
    expect(engine.live).toBe(0);
  });
});

describe('the controller contract', () => {
  it("src/control's BatchContinuation.decide is an ExitDecider", () => {
    // Type-level: this only compiles while the runner's decider signature fits the controller's callback.
    const asDecider = (c: ControllerContinuation): ExitDecider => c.decide;
    expect(asDecider).toBeTypeOf('function');
  });
});

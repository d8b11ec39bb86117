import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../src/model/manifest.ts';
import { openOnnxStageSession, runsDirect } from '../../src/model/engines/onnx-stage-session.ts';
import { IMAGE_MODEL, maxAbsDiff, randomInputs } from './fixtures.ts';

const OPTIONS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };

async function firstStage(): Promise<{ file: string; input: ort.Tensor }> {
  const manifest = await readManifest(IMAGE_MODEL);
  const stage = manifest.stages[0];
  if (stage === undefined) throw new Error('fixture has no stage');
  const dims = (stage.inputs[0]?.shape ?? []).slice(1) as number[];
  const size = dims.reduce((a, b) => a * b, 1);
  const [row] = randomInputs(1, size);
  return { file: join(IMAGE_MODEL, stage.file), input: new ort.Tensor('float32', row as Float32Array, [1, ...dims]) };
}

describe('ONNX stage sessions', () => {
  it('run through the native binding of the installed onnxruntime-node', () => {
    expect(runsDirect()).toBe(true);
  });

  it('answer as the public API does, all outputs or only those asked for', async () => {
    const { file, input } = await firstStage();
    const direct = await openOnnxStageSession(file, OPTIONS);
    const reference = await ort.InferenceSession.create(file, OPTIONS);
    try {
      expect(direct.inputNames).toEqual(reference.inputNames);
      expect(direct.outputNames).toEqual(reference.outputNames);
      const feeds = { [reference.inputNames[0] as string]: input };
      const expected = await reference.run(feeds);
      const all = await direct.run(feeds);
      expect(Object.keys(all).sort()).toEqual(Object.keys(expected).sort());
      for (const name of Object.keys(expected)) {
        expect(all[name]?.dims).toEqual(expected[name]?.dims);
        expect(maxAbsDiff(all[name]?.data as Float32Array, expected[name]?.data as Float32Array)).toBe(0);
      }
      const logitsOnly = await direct.run(feeds, ['logits']);
      expect(Object.keys(logitsOnly)).toEqual(['logits']);
    } finally {
      await direct.release();
      await reference.release();
    }
  });

  it('run a stage without waiting for a turn of the event loop (the public API defers it behind setImmediate)', async () => {
    const { file, input } = await firstStage();
    const direct = await openOnnxStageSession(file, OPTIONS);
    try {
      const order: string[] = [];
      setImmediate(() => order.push('event loop turn'));
      await direct.run({ [direct.inputNames[0] as string]: input }).then(() => order.push('stage done'));
      await new Promise((resolve) => setImmediate(resolve));
      expect(order).toEqual(['stage done', 'event loop turn']);
    } finally {
      await direct.release();
    }
  });

  it('rejects a bad feed with ONNX Runtime\'s error, not a crash', async () => {
    const { file } = await firstStage();
    const direct = await openOnnxStageSession(file, OPTIONS);
    try {
      const wrong = new ort.Tensor('float32', new Float32Array(3), [1, 3]);
      await expect(direct.run({ [direct.inputNames[0] as string]: wrong })).rejects.toThrow();
    } finally {
      await direct.release();
    }
  });
});

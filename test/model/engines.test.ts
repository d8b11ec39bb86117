import { describe, expect, it } from 'vitest';
import type { FeatureBatch } from '../../src/model/engines/engine.ts';
import { loadModel } from '../../src/model/load-model.ts';
import { inputSize } from '../../src/model/manifest.ts';
import { IMAGE_MODEL, maxAbsDiff, randomInputs, readReference, SIGNAL_MODEL } from './fixtures.ts';

const ENGINES = ['onnx', 'tfjs'] as const;

async function allExitLogits(dir: string, engine: 'onnx' | 'tfjs', inputs: Float32Array[]): Promise<Float32Array[]> {
  const model = await loadModel(dir, { engine });
  try {
    const batch = new Float32Array(inputs.length * inputSize(model.manifest));
    inputs.forEach((row, i) => batch.set(row, i * row.length));
    const logits: Float32Array[] = [];
    let x: Float32Array | FeatureBatch = batch;
    for (let stage = 1; stage <= model.manifest.stages.length; stage++) {
      const result = await model.engine.runStage(stage, x, inputs.length);
      if (!(x instanceof Float32Array)) model.engine.release(x);
      logits.push(result.logits);
      if (result.features !== undefined) x = result.features;
    }
    return logits;
  } finally {
    await model.close();
  }
}

describe.each([
  ['image (2-D)', IMAGE_MODEL],
  ['signal (1-D)', SIGNAL_MODEL],
])('engines on the %s fixture', (_name, dir) => {
  const reference = readReference(dir);
  const inputs = reference.inputs.map((row) => Float32Array.from(row));

  it.each(ENGINES)('%s matches the PyTorch reference logits of every exit', async (engine) => {
    const logits = await allExitLogits(dir, engine, inputs);
    logits.forEach((exitLogits, k) => {
      expect(maxAbsDiff(exitLogits, (reference.exitLogits[k] as number[][]).flat())).toBeLessThan(1e-4);
    });
  });

  it('onnx and tfjs agree within 1e-3 on 100 inputs, every exit', async () => {
    const many = randomInputs(100, inputs[0]?.length ?? 0, 7);
    const [onnx, tfjs] = await Promise.all(ENGINES.map((e) => allExitLogits(dir, e, many)));
    onnx?.forEach((exitLogits, k) => expect(maxAbsDiff(exitLogits, tfjs?.[k] ?? [])).toBeLessThan(1e-3));
  });
});

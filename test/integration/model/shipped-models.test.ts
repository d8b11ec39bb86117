import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openTestSet } from '../../../src/model/datasets/locate.ts';
import type { FeatureBatch } from '../../../src/model/engines/engine.ts';
import { evaluateModel } from '../../../src/model/evaluate.ts';
import { loadModel, type LoadedModel } from '../../../src/model/load-model.ts';

/**
 * Every model shipped in models/ against its own manifest: `edgeke eval`'s per-exit test accuracy within 0.3 points of
 * the manifest's testAccuracy (onnx engine), and the two engines agreeing on 100 real test inputs at every exit.
 * Models that land later are picked up automatically; an empty models/ fails, it is not skipped.
 */
const MODELS_DIR = join(process.cwd(), 'models');
const shipped = existsSync(MODELS_DIR)
  ? readdirSync(MODELS_DIR).filter((name) => existsSync(join(MODELS_DIR, name, 'manifest.json'))).sort()
  : [];

it('at least one model is shipped in models/', () => {
  expect(shipped, 'models/<name>/manifest.json: no shipped model found').not.toHaveLength(0);
});

async function allLogits(model: LoadedModel, inputs: Float32Array[]): Promise<Float32Array[]> {
  const batch = new Float32Array(inputs.reduce((n, x) => n + x.length, 0));
  let offset = 0;
  for (const x of inputs) {
    batch.set(x, offset);
    offset += x.length;
  }
  const out: Float32Array[] = [];
  let x: Float32Array | FeatureBatch = batch;
  for (let stage = 1; stage <= model.manifest.stages.length; stage++) {
    const r = await model.engine.runStage(stage, x, inputs.length);
    if (!(x instanceof Float32Array)) model.engine.release(x);
    out.push(r.logits);
    if (r.features !== undefined) x = r.features;
  }
  return out;
}

describe.each(shipped)('shipped model %s', (name) => {
  const dir = join(MODELS_DIR, name);

  it("scores each exit's manifest testAccuracy within 0.3 points on the test split", async () => {
    const model = await loadModel(dir);
    try {
      const testSet = await openTestSet(dir, model.manifest);
      const evaluation = await evaluateModel(model, testSet, { batchSize: 64 });
      for (const e of evaluation.exits) {
        expect(Math.abs(e.accuracy - e.testAccuracy) * 100, `exit ${e.exit}: ${e.accuracy} vs manifest ${e.testAccuracy}`).toBeLessThanOrEqual(0.3);
      }
    } finally {
      await model.close();
    }
  }, 600_000);

  it('onnx and tfjs agree within 1e-3 on 100 real test inputs, at every exit', async () => {
    const [onnx, tfjs] = await Promise.all([loadModel(dir, { engine: 'onnx' }), loadModel(dir, { engine: 'tfjs' })]);
    try {
      const testSet = await openTestSet(dir, onnx.manifest);
      const inputs: Float32Array[] = [];
      for await (const b of testSet.batches(100)) {
        inputs.push(...b.inputs);
        break;
      }
      expect(inputs.length).toBe(Math.min(100, testSet.size));
      for (let start = 0; start < inputs.length; start += 25) {
        const chunk = inputs.slice(start, start + 25);
        const [a, b] = [await allLogits(onnx, chunk), await allLogits(tfjs, chunk)];
        a.forEach((logits, k) => {
          let max = 0;
          logits.forEach((v, i) => (max = Math.max(max, Math.abs(v - (b[k]?.[i] ?? NaN)))));
          expect(max, `exit ${k + 1}, inputs ${start}..${start + chunk.length - 1}`).toBeLessThan(1e-3);
        });
      }
    } finally {
      await Promise.all([onnx.close(), tfjs.close()]);
    }
  }, 600_000);
});

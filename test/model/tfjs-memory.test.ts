import { describe, expect, it } from 'vitest';
import { loadTensorflow } from '../../src/model/engines/tfjs-backend.ts';
import { loadModel } from '../../src/model/load-model.ts';
import { inputSize } from '../../src/model/manifest.ts';
import { MultiExitRunner, stopAtExits } from '../../src/model/multi-exit-runner.ts';
import { IMAGE_MODEL, randomInputs, SIGNAL_MODEL } from './fixtures.ts';

describe('tfjs engine memory', () => {
  it.each([IMAGE_MODEL, SIGNAL_MODEL])('keeps the tensor count flat over many batches (%s)', async (dir) => {
    const { tf } = await loadTensorflow();
    const before = tf.memory().numTensors;
    const model = await loadModel(dir, { engine: 'tfjs' });
    const runner = new MultiExitRunner(model);
    const inputs = randomInputs(6, inputSize(model.manifest));
    await runner.runBatch(inputs, { vote: true }); // warm-up: constants converted on first use stay cached
    const loaded = tf.memory().numTensors;
    for (let i = 0; i < 30; i++) await runner.runBatch(inputs, { decide: stopAtExits([1, 2, 3, 3, 2, 1]) });
    expect(tf.memory().numTensors).toBe(loaded);
    await model.close();
    expect(tf.memory().numTensors).toBe(before);
  });
});

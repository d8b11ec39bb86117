import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { loadTensorflow } from '../../../src/model/engines/tfjs-backend.ts';
import { loadModel } from '../../../src/model/load-model.ts';
import { inputSize } from '../../../src/model/manifest.ts';
import { MultiExitRunner, type ExitDecider } from '../../../src/model/multi-exit-runner.ts';
import { IMAGE_MODEL, randomInputs } from '../../model/fixtures.ts';

/**
 * Many inferences through the whole runner (continuations, compaction, release): after a warm-up, heap and RSS stay
 * within 10% and the TensorFlow.js tensor count does not move. 100,000 frames of the tiny fixture per engine (about
 * 4 s with onnx and 13 s with tfjs-wasm here); the 25 s bound only guards slower machines, which then run fewer.
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const FRAMES = 100_000;
const SECONDS = 25;

function settle(): { heap: number; rss: number } {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, rss: m.rss };
}

describe.each(['onnx', 'tfjs'] as const)('memory soak (%s engine)', (engine) => {
  it(`runs up to ${FRAMES} frames without growing`, async () => {
    const model = await loadModel(IMAGE_MODEL, { engine });
    const runner = new MultiExitRunner(model);
    const inputs = randomInputs(8, inputSize(model.manifest), 11);
    // Frames leave at different exits, so every path (stop, compaction, carry on) is exercised.
    const decide: ExitDecider = (frame, exit) => (frame % 3 === exit - 1 ? 'stop' : 'continue');
    const tf = engine === 'tfjs' ? (await loadTensorflow()).tf : undefined;
    const timings: number[] = [];
    runner.onStageTiming((t) => {
      timings.push(t.ms);
      if (timings.length > 1000) timings.length = 0;
    });
    let frames = 0;
    const batch = async (): Promise<void> => {
      await runner.runBatch(inputs, { decide, vote: true });
      frames += inputs.length;
    };
    for (let i = 0; i < 500; i++) await batch(); // warm-up
    const tensors = tf?.memory().numTensors;
    const before = settle();
    const deadline = Date.now() + SECONDS * 1000;
    while (frames < FRAMES + 4000 && Date.now() < deadline) await batch();
    const after = settle();
    console.log(`${engine}: ${frames - 4000} frames after warm-up; heap ${(before.heap / 1e6).toFixed(1)} -> ${(after.heap / 1e6).toFixed(1)} MB, rss ${(before.rss / 1e6).toFixed(1)} -> ${(after.rss / 1e6).toFixed(1)} MB`);
    expect(after.heap).toBeLessThanOrEqual(before.heap * 1.1);
    expect(after.rss).toBeLessThanOrEqual(before.rss * 1.1);
    if (tf !== undefined) expect(tf.memory().numTensors).toBe(tensors);
    expect(frames - 4000).toBeGreaterThan(engine === 'onnx' ? 20_000 : 2_000);
    await model.close();
  }, 120_000);
});

import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { openTestSet } from '../../../src/model/datasets/locate.ts';
import { evaluateModel } from '../../../src/model/evaluate.ts';
import { loadModel } from '../../../src/model/load-model.ts';
import { MultiExitRunner } from '../../../src/model/multi-exit-runner.ts';

// The training toolkit's smoke recipe (a small subset, one epoch) on Fashion-MNIST from its Debian package, then
// the exported folder loaded and run from TypeScript with both engines: the training/runtime contract end to end.
describe('smoke training to the TypeScript runtime', () => {
  it('trains, exports, and the runtime loads, runs and evaluates what it wrote', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'edgeke-smoke-')), 'fashion-mnist');
    await promisify(execFile)('/usr/bin/python3', ['-m', 'training.train', 'fashion-mnist', '--smoke', '--out', out], { timeout: 240_000 });

    for (const engine of ['onnx', 'tfjs'] as const) {
      const model = await loadModel(out, { engine });
      try {
        expect(model.manifest.exits.length).toBeGreaterThanOrEqual(3);
        const testSet = await openTestSet(out, model.manifest);
        const evaluation = await evaluateModel(model, testSet, { limit: 64 });
        expect(evaluation.samples).toBe(64);
        expect(evaluation.exits.map((exit) => exit.exit)).toEqual(model.manifest.exits.map((exit) => exit.index));
        for (const exit of evaluation.exits) expect(exit.accuracy).toBeGreaterThanOrEqual(0);
        const runner = new MultiExitRunner(model);
        const input = new Float32Array(28 * 28).fill(0.1);
        const { answers } = await runner.runBatch([input, input]);
        const last = model.manifest.exits.length;
        expect(answers.map((answer) => answer.exit)).toEqual([last, last]);
      } finally {
        await model.close();
      }
    }
  }, 300_000);
});

import type { TestSet } from './datasets/test-set.ts';
import type { LoadedModel } from './load-model.ts';
import { MultiExitRunner } from './multi-exit-runner.ts';

/** Per-exit accuracy of a model on a labelled split: every sample runs to the last exit, each exit is scored. */
export interface Evaluation {
  model: string;
  engine: string;
  data: string;
  samples: number;
  exits: { exit: number; accuracy: number; correct: number; testAccuracy: number }[];
  /** The EdgeKE weighted vote, when the manifest has vote weights. */
  vote?: { accuracy: number; correct: number; testAccuracy?: number };
}

export interface EvaluateOptions {
  batchSize?: number;
  /** Only the first `limit` samples (smoke runs). */
  limit?: number;
  onProgress?: (done: number, total: number) => void;
}

export async function evaluateModel(model: LoadedModel, testSet: TestSet, options: EvaluateOptions = {}): Promise<Evaluation> {
  const { manifest } = model;
  const runner = new MultiExitRunner(model);
  const exitsCount = manifest.exits.length;
  const correct = new Array<number>(exitsCount).fill(0);
  let voteCorrect = 0;
  let samples = 0;
  const total = Math.min(testSet.size, options.limit ?? Infinity);
  const vote = manifest.vote !== undefined;
  for await (const batch of testSet.batches(options.batchSize ?? 32)) {
    const take = Math.min(batch.inputs.length, total - samples);
    if (take <= 0) break;
    const { answers } = await runner.runBatch(batch.inputs.slice(0, take), { vote });
    answers.forEach((answer, i) => {
      const label = batch.labels[i];
      answer.exits.forEach((e, k) => {
        if (e.classIndex === label) correct[k] = (correct[k] ?? 0) + 1;
      });
      if (answer.vote?.classIndex === label) voteCorrect++;
    });
    samples += take;
    options.onProgress?.(samples, total);
  }
  const result: Evaluation = {
    model: manifest.name,
    engine: model.engine.backend,
    data: testSet.description,
    samples,
    exits: manifest.exits.map((e, k) => ({
      exit: e.index,
      accuracy: samples > 0 ? (correct[k] ?? 0) / samples : 0,
      correct: correct[k] ?? 0,
      testAccuracy: e.testAccuracy,
    })),
  };
  if (vote) {
    result.vote = { accuracy: samples > 0 ? voteCorrect / samples : 0, correct: voteCorrect };
    if (manifest.vote?.testAccuracy !== undefined) result.vote.testAccuracy = manifest.vote.testAccuracy;
  }
  return result;
}

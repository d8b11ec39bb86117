import { EdgekeError } from '../../errors.ts';
import { engineOption, positiveIntOption } from '../../model/cli-options.ts';
import { openTestSet } from '../../model/datasets/locate.ts';
import { evaluateModel, type Evaluation } from '../../model/evaluate.ts';
import { loadModel } from '../../model/load-model.ts';
import { UsageError, type Command } from '../command.ts';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Measure the per-exit accuracy of a model on its test split',
  usage: 'edgeke eval <model-dir> --split test [--engine onnx|tfjs] [--data <path>] [--limit N] [--json]',
  details: `Options:
  --split test         the split to score (only the fixed test split ships with the repository)
  --engine onnx|tfjs   inference engine (default onnx)
  --data <path>        test data to use instead of the one found for the model: a folder with one sub-folder of
                       images per class, a segment index.json, or a folder with an IDX pair
  --limit N            score only the first N samples
  --json               print {"exits":[{"exit":1,"accuracy":0.97},...]} (plus details) instead of a table

The test split is found from the manifest, never from the model's name: its dataset.test entry (a model folder
written by \`edgeke train\` carries its held-out split in test/), else by task, classes and input size: data/*/test/
class folders for images, data/*/test/index.json segments for signals, IDX files under /usr/share/datasets.`,
  options: {
    split: { type: 'string' },
    engine: { type: 'string' },
    data: { type: 'string' },
    limit: { type: 'string' },
    threads: { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, stdout, stderr }) {
    const split = values.split ?? 'test';
    if (split !== 'test') throw new UsageError('--split: only "test" is available');
    const engine = engineOption(values);
    const threads = positiveIntOption(values, 'threads', 1);
    const limit = values.limit === undefined ? undefined : positiveIntOption(values, 'limit', 1);
    const modelDir = positionals[0] as string;
    try {
      const model = await loadModel(modelDir, { engine, threads });
      try {
        const testSet = await openTestSet(model.dir, model.manifest, typeof values.data === 'string' ? { data: values.data } : {});
        stderr.write(`eval: ${model.manifest.name} on ${testSet.description} with ${model.engine.backend}\n`);
        let lastPercent = -1;
        const evaluation = await evaluateModel(model, testSet, {
          ...(limit === undefined ? {} : { limit }),
          onProgress: (done, total) => {
            const percent = Math.floor((100 * done) / total / 10) * 10;
            if (percent !== lastPercent) stderr.write(`eval: ${done}/${total}\n`);
            lastPercent = percent;
          },
        });
        stdout.write(values.json === true ? JSON.stringify(evaluation) + '\n' : evaluationTable(evaluation));
        return 0;
      } finally {
        await model.close();
      }
    } catch (error) {
      if (error instanceof EdgekeError) {
        stderr.write(`edgeke eval: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
  },
};

export function evaluationTable(e: Evaluation): string {
  const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;
  const rows = e.exits.map((x) => `${String(x.exit).padStart(4)}  ${pct(x.accuracy).padStart(8)}  ${pct(x.testAccuracy).padStart(8)}  ${(100 * (x.accuracy - x.testAccuracy)).toFixed(2).padStart(6)}`);
  if (e.vote !== undefined) {
    const manifest = e.vote.testAccuracy;
    rows.push(`vote  ${pct(e.vote.accuracy).padStart(8)}  ${manifest === undefined ? '-'.padStart(8) : pct(manifest).padStart(8)}  ${manifest === undefined ? '' : (100 * (e.vote.accuracy - manifest)).toFixed(2).padStart(6)}`);
  }
  return [`${e.model}: ${e.samples} samples, ${e.engine}`, 'exit  accuracy  manifest  diff pts', ...rows, ''].join('\n');
}

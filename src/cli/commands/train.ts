import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findTrainingPython, TrainingToolkitError } from '../training-python.ts';
import { UsageError, type Command, type OptionValues } from '../../core/command.ts';

/** The repository root holding `training/` (this file is src/cli/commands/train.ts, or its build under dist/). */
const TOOLKIT_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Options passed through to `python3 -m training.train_data` as they are. */
const PASSED: Record<string, 'string' | 'boolean'> = {
  name: 'string',
  test: 'string',
  labels: 'string',
  size: 'string',
  channels: 'string',
  window: 'string',
  hop: 'string',
  'sample-rate': 'string',
  augment: 'string',
  teacher: 'string',
  exits: 'string',
  'max-mflops': 'string',
  minutes: 'string',
  seed: 'string',
  threads: 'string',
  smoke: 'boolean',
};
const PATHS = new Set(['test', 'labels', 'teacher']);

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train a distilled multi-exit model and a ready flow file from a folder of labelled data',
  usage: 'edgeke train <data> --out <model-dir> [--smoke] [--minutes N] [options]',
  details: `<data> is a folder with one subfolder of images per class (JPEG, PNG, BMP, TIFF; any size, grey or colour),
an IDX folder (train-images-idx3-ubyte[.gz] with its labels file; a t10k-/test- pair is the test split: e.g.
/usr/share/datasets/fashion-mnist), or a folder of signal recordings (.f32, .npy, .csv, .wav) with labels.csv
(file,label[,group]).
Validation and test parts are held out automatically, stratified by class (signals: by recording or group).
Writes <model-dir>/ in the shipped model format (manifest.json, stageN.onnx, REPORT.md, accuracy_vs_cost.png,
test/ with the held-out test data for \`edgeke eval\`) and <model-dir>/flow.yaml for \`edgeke check\` / \`edgeke run\`.

Options:
  --out <dir>          model folder to write (required)
  --name <name>        model and flow name (default: the folder's name)
  --test <dir>         a fixed test folder (same layout) instead of a held-out test part
  --size N|WxH         images: input size (default: chosen from the data)
  --channels 1|3       images: grey or colour (default: from the data)
  --augment hflip,vflip  images: random flips while training (default none)
  --labels <csv>       signals: labels file (default <data>/labels.csv)
  --window N, --hop N  signals: window length and training hop in samples (default: from the data, window/4)
  --sample-rate HZ     signals: sample rate (default: from .wav headers)
  --teacher <onnx>     your own classifier as teacher (same input as the student, logits out)
  --exits N|k,k,...    number of exits (default 3), or the candidate units to keep
  --max-mflops X       largest final-exit cost, MFLOPs at batch 1
  --minutes N          bound on the whole run (default 60; none with --smoke); the model is complete when it ends
  --smoke              a tiny, fast run for CI (<= 40 examples per class, a few epochs)
  --seed N, --threads N  split/initialisation seed (default 0); torch CPU threads (default 1)

Training runs in the Python toolkit (training/, PyTorch): EDGEKE_PYTHON names its interpreter; otherwise
/usr/bin/python3, then python3 on PATH, whichever imports torch, onnx, numpy, PIL and matplotlib.`,
  options: {
    out: { type: 'string' },
    ...Object.fromEntries(Object.entries(PASSED).map(([name, type]) => [name, { type }])),
  },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, stdout, stderr }) {
    if (typeof values.out !== 'string') throw new UsageError('--out <model-dir> is required');
    const data = resolve(positionals[0] as string);
    if (!existsSync(data)) {
      stderr.write(`edgeke train: ${data}: not found\n`);
      return 1;
    }
    const out = resolve(values.out);
    let python: string;
    try {
      python = await findTrainingPython(process.env, TOOLKIT_ROOT);
    } catch (error) {
      if (error instanceof TrainingToolkitError) {
        stderr.write(`edgeke train: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
    const args = ['-m', 'training.train_data', data, '--out', out, '--flow-model-path', relative(process.cwd(), out) || '.', ...passedOptions(values)];
    const command = ['edgeke train', positionals[0] as string, '--out', values.out, ...passedOptions(values, false)].join(' ');
    return await new Promise<number>((done, fail) => {
      const child = spawn(python, args, {
        cwd: TOOLKIT_ROOT,
        env: { ...process.env, EDGEKE_TRAIN_COMMAND: command, OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '1', PYTHONUNBUFFERED: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (chunk: Buffer) => stdout.write(chunk));
      child.stderr.on('data', (chunk: Buffer) => stderr.write(chunk));
      child.once('error', fail);
      // Exit 2 from the toolkit is bad input (already explained on stderr); any failure is exit 1 here.
      child.once('close', (code) => done(code === 0 ? 0 : 1));
    });
  },
};

function passedOptions(values: OptionValues, resolvePaths = true): string[] {
  const args: string[] = [];
  for (const [name, type] of Object.entries(PASSED)) {
    const value = values[name];
    if (type === 'boolean' && value === true) args.push(`--${name}`);
    else if (type === 'string' && typeof value === 'string') args.push(`--${name}`, resolvePaths && PATHS.has(name) ? resolve(value) : value);
  }
  return args;
}

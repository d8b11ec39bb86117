/**
 * Runtime benchmark: for every shipped model (or the tiny fixture when none is shipped), per exit, at batch 1 and 32:
 *   ours       MultiExitRunner + onnx engine (inputs packed, stages chained, softmax/argmax per frame)
 *   bare ORT   onnxruntime-node sessions on the same stage files, chained by hand (the floor for our overhead)
 *   PyTorch    eager torch on the same weights (bench/pytorch_runtime.py), same threads, no_grad
 *   tfjs       MultiExitRunner + tfjs engine (same ONNX files, TensorFlow.js ops)
 * Prints ratios; writes bench/results/runtime.json and bench/results/runtime.png (bench/plot_runtime.py).
 *
 *   node --import tsx bench/runtime.ts [--model models/x ...] [--threads 1] [--repeats 200] [--budget-ms 3000] [--no-tfjs]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { loadModel, type LoadedModel } from '../src/model/load-model.ts';
import { inputSize, type Manifest } from '../src/model/manifest.ts';
import { MultiExitRunner, stopAtExits } from '../src/model/multi-exit-runner.ts';
import { pairedRatio, quantileOf, timeInterleaved } from './lib/timing.ts';

const { values } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    threads: { type: 'string', default: '1' },
    repeats: { type: 'string', default: '200' },
    'budget-ms': { type: 'string', default: '3000' },
    batches: { type: 'string', default: '1,32' },
    'no-tfjs': { type: 'boolean', default: false },
    'no-plot': { type: 'boolean', default: false },
  },
});
const threads = Number(values.threads);
const repeats = Number(values.repeats);
const JIT_WARMUP_CALLS = 600;
const budgetMs = Number(values['budget-ms']);
const batches = (values.batches ?? '1,32').split(',').map(Number);
const PYTHON = '/usr/bin/python3';
const root = resolve(import.meta.dirname, '..');

function shippedModels(): string[] {
  const dir = join(root, 'models');
  const found = existsSync(dir) ? readdirSync(dir).filter((n) => existsSync(join(dir, n, 'manifest.json'))).sort().map((n) => join(dir, n)) : [];
  return found.length > 0 ? found : [join(root, 'test/fixtures/tiny-model/image'), join(root, 'test/fixtures/tiny-model/signal')];
}

/** x[i] = 0.5 sin(12.9898 i) over the whole batch: the same probe input the PyTorch script builds. */
function probeBatch(manifest: Manifest, batch: number): Float32Array[] {
  const size = inputSize(manifest);
  return Array.from({ length: batch }, (_, f) => {
    const row = new Float32Array(size);
    for (let i = 0; i < size; i++) row[i] = 0.5 * Math.sin((f * size + i) * 12.9898);
    return row;
  });
}

/**
 * The floor: ORT sessions chained by hand, no runner, no softmax. Like the runtime it starts from one Float32Array
 * per frame (as frames come from the decoders) and packs them into one tensor, so the ratio measures the runtime's
 * own work (bookkeeping, compaction, per-frame softmax), not the memcpy that any batched use of ORT needs.
 */
async function bareOrt(dir: string, manifest: Manifest): Promise<{ run: (frames: Float32Array[], exit: number) => Promise<Float32Array>; close: () => Promise<void> }> {
  const sessions = await Promise.all(
    manifest.stages.map((s) =>
      ort.InferenceSession.create(join(dir, s.file), { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' }),
    ),
  );
  return {
    async run(frames, exit) {
      const batch = frames.length;
      let input = frames[0]!;
      if (batch > 1) {
        input = new Float32Array(batch * input.length);
        frames.forEach((f, i) => input.set(f, i * f.length));
      }
      let x: ort.Tensor = new ort.Tensor('float32', input, [batch, ...manifest.input.shape]);
      let logits: ort.Tensor | undefined;
      for (let k = 0; k < exit; k++) {
        const stage = manifest.stages[k]!;
        const out = await sessions[k]!.run({ [stage.inputs[0]!.name]: x });
        logits = out.logits;
        if (out.features !== undefined) x = out.features;
      }
      return logits!.data as Float32Array;
    },
    close: async () => {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
}

interface Row {
  model: string;
  exit: number;
  batchSize: number;
  /** Median ms per call. */
  oursMs: number;
  bareOrtMs: number;
  pytorchMs: number | null;
  tfjsMs: number | null;
  /** Lower-quartile ms per call: the typical time when other processes leave the cores alone. */
  oursP25Ms: number;
  bareOrtP25Ms: number;
  pytorchP25Ms: number | null;
  tfjsP25Ms: number | null;
  /** Median over interleaved rounds of ours / bare ORT. */
  overheadVsOrt: number;
  /** Ratio of the two lower quartiles. */
  overheadVsOrtP25: number;
  /** PyTorch / ours, lower quartiles (each side's typical uncontended time). */
  speedupVsPytorch: number | null;
  /** tfjs / ours, lower quartiles. */
  tfjsVsOurs: number | null;
}

function pytorchBaseline(dir: string): { results: { exit: number; batchSize: number; medianMs: number; p25Ms: number }[]; probeLogits: number[][]; torch: string } | undefined {
  try {
    const out = execFileSync(PYTHON, [join(root, 'bench/pytorch_runtime.py'), dir, '--threads', String(threads), '--batches', batches.join(','), '--repeats', String(repeats), '--budget-ms', String(budgetMs)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 1 << 26,
    });
    return JSON.parse(out) as ReturnType<typeof pytorchBaseline>;
  } catch (error) {
    process.stderr.write(`bench: PyTorch baseline unavailable (${(error as Error).message.split('\n')[0]})\n`);
    return undefined;
  }
}

const rows: Row[] = [];
const parity: { model: string; maxAbsDiffVsPytorch: number }[] = [];
let torchVersion = '';
let backends: Record<string, string> = {};
for (const dir of values.model?.map((m) => resolve(m)) ?? shippedModels()) {
  const onnx = await loadModel(dir, { engine: 'onnx', threads });
  const tfjs: LoadedModel | undefined = values['no-tfjs'] ? undefined : await loadModel(dir, { engine: 'tfjs' });
  const { manifest } = onnx;
  backends = { onnx: onnx.engine.backend, ...(tfjs ? { tfjs: tfjs.engine.backend } : {}) };
  process.stderr.write(`bench: ${manifest.name}: PyTorch baseline...\n`);
  const torch = pytorchBaseline(dir);
  torchVersion = torch?.torch ?? '';
  const ours = new MultiExitRunner(onnx);
  const viaTfjs = tfjs ? new MultiExitRunner(tfjs) : undefined;
  const bare = await bareOrt(dir, manifest);
  // Honesty check: all implementations compute the same logits on the probe input.
  if (torch !== undefined) {
    const probe = probeBatch(manifest, 1);
    const answer = await ours.run(probe[0]!);
    let max = 0;
    answer.exits.forEach((e, k) => e.logits.forEach((v, i) => (max = Math.max(max, Math.abs(v - (torch.probeLogits[k]?.[i] ?? NaN))))));
    parity.push({ model: manifest.name, maxAbsDiffVsPytorch: max });
    if (!(max < 1e-3)) throw new Error(`${manifest.name}: PyTorch baseline and runtime disagree by ${max}`);
  }
  // Steady state, as a service that runs for days sees it: a few hundred calls of each path before any cell is
  // timed, so the JIT has optimised ours (more JavaScript than bare ORT's) before the first cell, not during it.
  const warmInput = probeBatch(manifest, 1);
  for (let i = 0; i < JIT_WARMUP_CALLS; i++) {
    await ours.runBatch(warmInput, { decide: stopAtExits([1 + (i % manifest.exits.length)]) });
    await bare.run(warmInput, 1 + (i % manifest.exits.length));
  }
  for (const batchSize of batches) {
    const inputs = probeBatch(manifest, batchSize);
    for (let exit = 1; exit <= manifest.exits.length; exit++) {
      const decide = stopAtExits(inputs.map(() => exit));
      // ours and bare ORT are timed as an interleaved pair (the overhead ratio); tfjs on its own, so its very
      // different memory traffic does not disturb the pair.
      const pair = await timeInterleaved(
        [
          { name: 'ours', run: () => ours.runBatch(inputs, { decide }) },
          { name: 'bare', run: () => bare.run(inputs, exit) },
        ],
        { warmup: 3, repeats, budgetMs },
      );
      const alone = viaTfjs ? await timeInterleaved([{ name: 'tfjs', run: () => viaTfjs.runBatch(inputs, { decide }) }], { warmup: 3, repeats, budgetMs: budgetMs / 2 }) : undefined;
      const ourSamples = pair.get('ours')!.samples;
      const bareSamples = pair.get('bare')!.samples;
      const tfjsSamples = alone?.get('tfjs')?.samples;
      const torchRow = torch?.results.find((r) => r.exit === exit && r.batchSize === batchSize);
      const oursP25Ms = quantileOf(ourSamples, 0.25);
      const tfjsP25Ms = tfjsSamples === undefined ? null : quantileOf(tfjsSamples, 0.25);
      const pytorchP25Ms = torchRow?.p25Ms ?? null;
      const row: Row = {
        model: manifest.name, exit, batchSize,
        oursMs: pair.get('ours')!.medianMs,
        bareOrtMs: pair.get('bare')!.medianMs,
        pytorchMs: torchRow?.medianMs ?? null,
        tfjsMs: alone?.get('tfjs')?.medianMs ?? null,
        oursP25Ms,
        bareOrtP25Ms: quantileOf(bareSamples, 0.25),
        pytorchP25Ms,
        tfjsP25Ms,
        overheadVsOrt: pairedRatio(ourSamples, bareSamples),
        overheadVsOrtP25: oursP25Ms / quantileOf(bareSamples, 0.25),
        speedupVsPytorch: pytorchP25Ms === null ? null : pytorchP25Ms / oursP25Ms,
        tfjsVsOurs: tfjsP25Ms === null ? null : tfjsP25Ms / oursP25Ms,
      };
      rows.push(row);
      const f = (x: number | null, d = 3): string => (x === null ? '-' : x.toFixed(d));
      process.stdout.write(
        `${manifest.name.padEnd(14)} exit ${exit} b=${String(batchSize).padEnd(3)} ours ${f(row.oursP25Ms)} ms | bare ORT ${f(row.bareOrtP25Ms)} ms ` +
          `(ours/bare ${f(row.overheadVsOrt)}, p25 ${f(row.overheadVsOrtP25)}) | PyTorch ${f(row.pytorchP25Ms)} ms (x${f(row.speedupVsPytorch, 2)} faster) | ` +
          `tfjs ${f(row.tfjsP25Ms)} ms (x${f(row.tfjsVsOurs, 2)} slower)\n`,
      );
    }
  }
  await bare.close();
  await onnx.close();
  await tfjs?.close();
}

const overhead = Math.max(...rows.map((r) => r.overheadVsOrt));
const speedups = rows.filter((r) => r.batchSize === 1 && r.speedupVsPytorch !== null).map((r) => r.speedupVsPytorch as number);
const result = {
  date: new Date().toISOString(),
  cpu: cpus()[0]?.model.trim(),
  cores: cpus().length,
  threads,
  backends,
  torch: torchVersion,
  note: 'one call = a batch through stages 1..exit; *Ms = median, *P25Ms = lower quartile per call (typical time when other processes leave the cores alone; the tables and ratios vs PyTorch and tfjs use it). ours and bare ORT run interleaved round by round; overheadVsOrt = median over rounds of ours/bare. PyTorch eager = the same ONNX weights run with torch.nn.functional ops under no_grad, same threads, in its own process',
  overhead_vs_ort: overhead,
  overhead_vs_ort_p25: Math.max(...rows.map((r) => r.overheadVsOrtP25)),
  speedup_vs_pytorch: speedups.length > 0 ? Math.min(...speedups) : null,
  parity,
  rows,
};
mkdirSync(join(root, 'bench/results'), { recursive: true });
const out = join(root, 'bench/results/runtime.json');
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
process.stdout.write(`\noverhead vs bare ORT (worst ours/bare): ${overhead.toFixed(3)} (target <= 1.10)\n`);
process.stdout.write(`speedup vs PyTorch eager at batch 1 (smallest): ${result.speedup_vs_pytorch?.toFixed(2) ?? '-'}\nwrote ${out}\n`);
if (!values['no-plot']) {
  try {
    execFileSync(PYTHON, [join(root, 'bench/plot_runtime.py'), out, join(root, 'bench/results/runtime.png')], { stdio: 'inherit' });
  } catch (error) {
    process.stderr.write(`bench: plot failed (${(error as Error).message.split('\n')[0]})\n`);
  }
}

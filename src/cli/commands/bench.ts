import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError, type Command } from '../../core/command.ts';

const BENCH_DIR = resolve(import.meta.dirname, '../../../bench');

/**
 * One V8 helper thread instead of four. Inference runs on the main thread; on a 2-core edge box, V8's concurrent
 * marking and sweeping threads took both cores now and then and descheduled it for a scheduler tick (~4 ms) inside
 * ORT calls that take 0.1 ms, against deadlines of 10 ms. The service image sets the same (Dockerfile).
 */
const V8_POOL_SIZE_FLAG = '--v8-pool-size=1';

function benchmarks(): string[] {
  return readdirSync(BENCH_DIR)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => file.slice(0, -3))
    .sort();
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'Run a benchmark from bench/ (runtime, policies, e2e, overload)',
  usage: 'edgeke bench <name> [-- benchmark options]',
  details: [
    'Runs bench/<name>.ts. Each benchmark measures EdgeKE and its baseline in the same run, prints the ratios, and',
    'writes bench/results/<name>.json (and a plot). Options after -- go to the benchmark (see the top of its file).',
    '',
    'Example: edgeke bench runtime -- --model models/neu-surface --repeats 100',
    '         edgeke bench overload -- --dataset neu --seconds 20 --loads 0.5,1,1.5,2,4,8',
    '(overload starts its own Mosquitto, InfluxDB and `edgeke run` process, pinned with taskset: see bench/README.md)',
  ].join('\n'),
  options: {},
  positionals: { min: 1, max: 1_000 },
  async run({ positionals, stdout, stderr }) {
    const [name, ...args] = positionals;
    const available = benchmarks();
    if (name === undefined || !available.includes(name)) throw new UsageError(`unknown benchmark '${name ?? ''}' (${available.join(', ')})`);
    const file = join(BENCH_DIR, `${name}.ts`);
    if (!existsSync(file)) throw new UsageError(`bench/${name}.ts is missing`);
    return new Promise<number>((resolveExit) => {
      // --expose-gc: a benchmark may collect between measurements, so one run's garbage does not pause the next.
      // --v8-pool-size=1: see V8_POOL_SIZE_FLAG.
      const child = spawn(process.execPath, ['--expose-gc', V8_POOL_SIZE_FLAG, '--import', 'tsx', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.pipe(stdout, { end: false });
      child.stderr.pipe(stderr, { end: false });
      child.on('exit', (code) => resolveExit(code ?? 1));
    });
  },
};

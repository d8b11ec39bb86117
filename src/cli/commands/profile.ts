import { EdgekeError } from '../../errors.ts';
import { engineOption, positiveIntOption } from '../cli-options.ts';
import type { LatencyProfile } from '../../model/profile-types.ts';
import { loadOrMeasureProfile } from '../../model/profiler.ts';
import type { Command } from '../../core/command.ts';

export const profileCommand: Command = {
  name: 'profile',
  summary: 'Measure the latency of each stage on this machine and cache the profile',
  usage: 'edgeke profile <model-dir> [--engine onnx|tfjs] [--threads N] [--max-batch N] [--repeats N] [--refresh] [--cache-dir DIR] [--json]',
  details: `Options:
  --engine onnx|tfjs   inference engine (default onnx)
  --threads N          intra-op threads per stage (default 1)
  --max-batch N        largest batch size; measures 1, 2, 4, ... N (default 32)
  --repeats N          timed runs per stage and batch size, after 5 warm-up runs (default 30)
  --refresh            measure even when a cached profile exists
  --cache-dir DIR      where profiles are cached (default .cache/profiles)
  --json               print the profile as JSON instead of a table

Profiles are cached in .cache/profiles/<key>.json, keyed by the model's content hash, the engine, the thread count
and the CPU model; the service reads the same cache at start.`,
  options: {
    engine: { type: 'string' },
    threads: { type: 'string' },
    'max-batch': { type: 'string' },
    repeats: { type: 'string' },
    refresh: { type: 'boolean' },
    'cache-dir': { type: 'string' },
    json: { type: 'boolean' },
  },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, stdout, stderr }) {
    const modelDir = positionals[0] as string;
    const engine = engineOption(values);
    const threads = positiveIntOption(values, 'threads', 1);
    const maxBatch = positiveIntOption(values, 'max-batch', 32);
    const repeats = positiveIntOption(values, 'repeats', 30);
    try {
      const { profile, cached } = await loadOrMeasureProfile(modelDir, {
        engine,
        threads,
        maxBatch,
        repeats,
        refresh: values.refresh === true,
        ...(typeof values['cache-dir'] === 'string' ? { cacheDir: values['cache-dir'] } : {}),
        onProgress: (done, total, e) => {
          stderr.write(`profile: ${done}/${total} stage ${e.stage} batch ${e.batchSize}: median ${e.medianMs.toFixed(3)} ms\n`);
        },
      });
      if (cached) stderr.write(`profile: cached profile ${profile.key} (measured ${profile.measuredAt}; --refresh to measure again)\n`);
      stdout.write(values.json === true ? JSON.stringify(profile, null, 2) + '\n' : profileTable(profile));
      return 0;
    } catch (error) {
      if (error instanceof EdgekeError) {
        stderr.write(`edgeke profile: ${error.message}\n`);
        return 1;
      }
      throw error;
    }
  },
};

/** Stages as rows, batch sizes as columns: median (p95) in ms, plus per-frame cost at the largest batch. */
export function profileTable(profile: LatencyProfile): string {
  const stages = [...new Set(profile.entries.map((e) => e.stage))].sort((a, b) => a - b);
  const sizes = [...new Set(profile.entries.map((e) => e.batchSize))].sort((a, b) => a - b);
  const header = ['stage', ...sizes.map((b) => `b=${b}`)];
  const rows = stages.map((stage) => [
    String(stage),
    ...sizes.map((b) => {
      const e = profile.entries.find((x) => x.stage === stage && x.batchSize === b);
      return e === undefined ? '-' : `${e.medianMs.toFixed(3)} (${e.p95Ms.toFixed(3)})`;
    }),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  return [
    `${profile.model.name}: ${profile.backend}, ${profile.cpuModel}`,
    'median (p95) ms per stage call',
    line(header),
    ...rows.map(line),
    '',
  ].join('\n');
}

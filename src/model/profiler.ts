import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { EngineName, FeatureBatch } from './engines/engine.ts';
import { loadModel, modelHash, type LoadedModel } from './load-model.ts';
import { inputSize } from './manifest.ts';
import type { LatencyProfile, StageLatencyProfileEntry } from './profile-types.ts';

/**
 * Measures how long each stage takes at each batch size on this machine. Stage k>1 is timed on the features stage
 * k-1 just gave, so each entry is the cost of that stage alone, which is what the controller adds up exit by exit.
 */

export interface ProfileOptions {
  /** Largest batch size; the sizes measured are 1, 2, 4, ... up to it (and it). Default 32. */
  maxBatch?: number;
  /** Timed runs per (stage, batch size). Default 30. */
  repeats?: number;
  /** Untimed runs before timing. Default 5. */
  warmup?: number;
  /** Called for each (stage, batch size) cell once measured (all at the end: the cells are measured together). */
  onProgress?: (done: number, total: number, entry: StageLatencyProfileEntry) => void;
  /** The clock the stages are timed with (ms). Default performance.now. */
  now?: () => number;
}

export function batchSizesUpTo(maxBatch: number): number[] {
  const sizes: number[] = [];
  for (let b = 1; b < maxBatch; b *= 2) sizes.push(b);
  sizes.push(maxBatch);
  return sizes;
}

/** p-quantile of sorted values by linear interpolation (numpy's default). */
export function quantile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * p;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  return a + ((sorted[hi] as number) - a) * (pos - lo);
}

/**
 * Measures one loaded model. Inputs are seeded noise: convolution cost does not depend on the values.
 *
 * Each cell (stage, batch size) is timed warm, in runs back to back, as a busy model runs them (single runs between
 * other cells time every call cold: several times too slow for a model of 0.03 ms stages). Its samples come from
 * SWEEPS blocks, one per sweep over all cells in a shuffled order: a burst of other work on the machine lands on one
 * block of a few cells, which the median ignores, rather than on every sample of the cells measured during it, which
 * would bend the profile's shape, and one learnt factor per stage could not undo that.
 */
export async function measureProfile(model: LoadedModel, options: ProfileOptions = {}): Promise<StageLatencyProfileEntry[]> {
  const { engine, manifest } = model;
  const sizes = batchSizesUpTo(options.maxBatch ?? 32);
  const repeats = options.repeats ?? 30;
  const warmup = options.warmup ?? 5;
  const now = options.now ?? (() => performance.now());
  const stages = manifest.stages.length;
  const perInput = inputSize(manifest);
  // The very first calls pay for allocator growth and lazy kernel setup: run the whole chain a while before timing.
  const settleUntil = now() + 200;
  for (let i = 0; i < 3 || now() < settleUntil; i++) {
    let x: Float32Array | FeatureBatch = new Float32Array(perInput);
    for (let stage = 1; stage <= stages; stage++) {
      const result = await engine.runStage(stage, x, 1);
      if (!(x instanceof Float32Array)) engine.release(x);
      if (result.features !== undefined) x = result.features;
    }
  }
  const samples = sizes.map(() => Array.from({ length: stages }, (): number[] => []));
  const order = sizes.map((_, i) => i);
  const sweeps = Math.min(SWEEPS, repeats);
  let seed = 0x9e3779b9;
  for (let sweep = 0; sweep < sweeps; sweep++) {
    // This sweep's share of the timed runs, and enough untimed ones to warm each cell again.
    const timed = Math.floor(repeats / sweeps) + (sweep < repeats % sweeps ? 1 : 0);
    const untimed = sweep === 0 ? warmup : Math.min(warmup, 2);
    seed = shuffle(order, seed);
    for (const i of order) {
      const batchSize = sizes[i] as number;
      const input = new Float32Array(batchSize * perInput);
      for (let k = 0; k < input.length; k++) input[k] = Math.sin(k * 12.9898) * 0.5;
      let x: Float32Array | FeatureBatch = input;
      for (let stage = 1; stage <= stages; stage++) {
        for (let run = 0; run < untimed + timed; run++) {
          const started = now();
          const result = await engine.runStage(stage, x, batchSize);
          const ms = now() - started;
          if (run >= untimed) samples[i]?.[stage - 1]?.push(ms);
          // Keep the last run's features as the next stage's input; free the others.
          if (result.features === undefined) continue;
          if (run === untimed + timed - 1) {
            if (!(x instanceof Float32Array)) engine.release(x);
            x = result.features;
          } else engine.release(result.features);
        }
      }
      if (!(x instanceof Float32Array)) engine.release(x);
    }
  }
  const entries: StageLatencyProfileEntry[] = [];
  for (let stage = 1; stage <= stages; stage++) {
    sizes.forEach((batchSize, i) => {
      const sorted = (samples[i]?.[stage - 1] ?? []).sort((a, b) => a - b);
      entries.push({ stage, batchSize, medianMs: quantile(sorted, 0.5), p95Ms: quantile(sorted, 0.95), samples: sorted.length });
    });
  }
  entries.forEach((entry, i) => options.onProgress?.(i + 1, entries.length, entry));
  return entries;
}

/** Sweeps the timed runs are split over (see measureProfile): a burst within one sweep reaches under half the samples. */
const SWEEPS = 3;

/** Fisher-Yates with a xorshift32 generator: the same order on every run with the same seed; returns the next seed. */
function shuffle(items: number[], seed: number): number {
  let state = seed >>> 0 || 1;
  for (let i = items.length - 1; i > 0; i--) {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    const j = state % (i + 1);
    [items[i], items[j]] = [items[j] as number, items[i] as number];
  }
  return state;
}

export interface ProfileRequest extends ProfileOptions {
  engine?: EngineName;
  threads?: number;
  /** Where profiles are cached; default `.cache/profiles` under the working directory. */
  cacheDir?: string;
  /** Measure even when a cached profile exists (and replace it). */
  refresh?: boolean;
}

/** Part of the cache key: profiles measured another way (one block per cell, or cold) are measured again, not trusted. */
const PROFILE_METHOD = 'warm-blocks-in-sweeps';

export interface ProfileKey {
  key: string;
  modelHash: string;
  engine: EngineName;
  threads: number;
  cpuModel: string;
}

export async function profileKey(dir: string, model: Pick<LoadedModel, 'manifest'>, engine: EngineName, threads: number): Promise<ProfileKey> {
  const hash = await modelHash(dir, model.manifest);
  const cpuModel = cpus()[0]?.model.trim() ?? 'unknown';
  const key = createHash('sha256').update(JSON.stringify([hash, engine, threads, cpuModel, PROFILE_METHOD])).digest('hex').slice(0, 32);
  return { key, modelHash: hash, engine, threads, cpuModel };
}

/**
 * The latency profile of `modelDir` on this machine: read from the cache when one exists for this model (by content
 * hash), engine, thread count and CPU model and covers the requested batch sizes, otherwise measured and cached.
 * Pass an already loaded model to measure with it instead of loading a second copy. The service calls this at start.
 */
export async function loadOrMeasureProfile(
  modelDir: string,
  request: ProfileRequest = {},
  loaded?: LoadedModel,
): Promise<{ profile: LatencyProfile; cached: boolean }> {
  const engine = loaded?.engine.name ?? request.engine ?? 'onnx';
  const threads = request.threads ?? 1;
  const maxBatch = request.maxBatch ?? 32;
  const model = loaded ?? (await loadModel(modelDir, { engine, threads }));
  try {
    const id = await profileKey(model.dir, model, engine, threads);
    const file = join(request.cacheDir ?? join(process.cwd(), '.cache', 'profiles'), `${id.key}.json`);
    if (request.refresh !== true) {
      const cached = await readCached(file);
      if (cached !== undefined && cached.key === id.key && Math.max(...cached.batchSizes) >= maxBatch) {
        return { profile: cached, cached: true };
      }
    }
    const warmup = request.warmup ?? 5;
    const repeats = request.repeats ?? 30;
    const entries = await measureProfile(model, { ...request, maxBatch, warmup, repeats });
    const profile: LatencyProfile = {
      key: id.key,
      model: { name: model.manifest.name, hash: id.modelHash },
      engine,
      backend: model.engine.backend,
      threads,
      cpuModel: id.cpuModel,
      batchSizes: batchSizesUpTo(maxBatch),
      repeats,
      warmup,
      measuredAt: new Date().toISOString(),
      entries,
    };
    await mkdir(join(file, '..'), { recursive: true });
    // Write then rename, so a concurrent reader never sees half a file.
    await writeFile(`${file}.${process.pid}.tmp`, JSON.stringify(profile, null, 2) + '\n');
    await rename(`${file}.${process.pid}.tmp`, file);
    return { profile, cached: false };
  } finally {
    if (loaded === undefined) await model.close();
  }
}

async function readCached(file: string): Promise<LatencyProfile | undefined> {
  try {
    const json = JSON.parse(await readFile(file, 'utf8')) as LatencyProfile;
    return Array.isArray(json.entries) && Array.isArray(json.batchSizes) ? json : undefined;
  } catch {
    return undefined; // missing or unreadable: measure again
  }
}

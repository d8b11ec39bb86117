import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import type { EngineName, FeatureBatch } from './engines/engine.ts';
import { loadModel, modelHash, type LoadedModel } from './load-model.ts';
import { inputSize } from './manifest.ts';
import type { LatencyProfile, StageLatencyProfileEntry } from './profile-types.ts';

/**
 * Measures how long each stage takes at each batch size on this machine. Stage k>1 is timed on real features of
 * stage k-1 (computed once, untimed), so each entry is the cost of that stage alone, which is what the controller
 * adds up exit by exit.
 */

export interface ProfileOptions {
  /** Largest batch size; the sizes measured are 1, 2, 4, ... up to it (and it). Default 32. */
  maxBatch?: number;
  /** Timed runs per (stage, batch size). Default 30. */
  repeats?: number;
  /** Untimed runs before timing. Default 5. */
  warmup?: number;
  /** Called after each (stage, batch size) cell, for progress output. */
  onProgress?: (done: number, total: number, entry: StageLatencyProfileEntry) => void;
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

/** Measures one loaded model. Inputs are seeded noise: convolution cost does not depend on the values. */
export async function measureProfile(model: LoadedModel, options: ProfileOptions = {}): Promise<StageLatencyProfileEntry[]> {
  const { engine, manifest } = model;
  const sizes = batchSizesUpTo(options.maxBatch ?? 32);
  const repeats = options.repeats ?? 30;
  const warmup = options.warmup ?? 5;
  const stages = manifest.stages.length;
  const total = stages * sizes.length;
  const entries: StageLatencyProfileEntry[] = [];
  const perInput = inputSize(manifest);
  // The very first calls pay for allocator growth and lazy kernel setup: run the whole chain a while before timing.
  const settleUntil = performance.now() + 200;
  for (let i = 0; i < 3 || performance.now() < settleUntil; i++) {
    let x: Float32Array | FeatureBatch = new Float32Array(perInput);
    for (let stage = 1; stage <= stages; stage++) {
      const result = await engine.runStage(stage, x, 1);
      if (!(x instanceof Float32Array)) engine.release(x);
      if (result.features !== undefined) x = result.features;
    }
  }
  for (const batchSize of sizes) {
    const input = new Float32Array(batchSize * perInput);
    for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 12.9898) * 0.5;
    let x: Float32Array | FeatureBatch = input;
    for (let stage = 1; stage <= stages; stage++) {
      const samples: number[] = [];
      for (let i = 0; i < warmup + repeats; i++) {
        const started = performance.now();
        const result = await engine.runStage(stage, x, batchSize);
        const ms = performance.now() - started;
        if (i >= warmup) samples.push(ms);
        // Keep the last run's features as the next stage's input; free the others.
        if (result.features !== undefined) {
          if (i === warmup + repeats - 1) {
            if (!(x instanceof Float32Array)) engine.release(x);
            x = result.features;
          } else engine.release(result.features);
        }
      }
      samples.sort((a, b) => a - b);
      const entry = { stage, batchSize, medianMs: quantile(samples, 0.5), p95Ms: quantile(samples, 0.95), samples: samples.length };
      entries.push(entry);
      options.onProgress?.(entries.length, total, entry);
    }
    if (!(x instanceof Float32Array)) engine.release(x);
  }
  return entries.sort((a, b) => a.stage - b.stage || a.batchSize - b.batchSize);
}

export interface ProfileRequest extends ProfileOptions {
  engine?: EngineName;
  threads?: number;
  /** Where profiles are cached; default `.cache/profiles` under the working directory. */
  cacheDir?: string;
  /** Measure even when a cached profile exists (and replace it). */
  refresh?: boolean;
}

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
  const key = createHash('sha256').update(JSON.stringify([hash, engine, threads, cpuModel])).digest('hex').slice(0, 32);
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

import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { LatencyEstimator, validateModelView } from '../control/index.ts';
import { loadModel, modelHash, type LoadedModel } from '../model/load-model.ts';
import { readManifest, inputSize } from '../model/manifest.ts';
import { MultiExitRunner } from '../model/multi-exit-runner.ts';
import { loadOrMeasureProfile } from '../model/profiler.ts';
import type { ModelConfig } from '../model/model-config.ts';
import { ModelExecutor } from './model-executor.ts';
import { ModelSwapError } from './model-swap-error.ts';
import { modelViewOf } from './model-view.ts';

/** One loaded model with its latency model and executor, shared by every flow that names the same model. */
export interface SharedModel {
  key: string;
  /** The model folder as the flows name it (the folder watched for replacement). */
  path: string;
  /** As the flows configure it (the folder, engine and threads a replacement is loaded with). */
  config: ModelConfig;
  loaded: LoadedModel;
  /** sha256 of manifest.json and the stage files as loaded (modelHash); `version` is its first 12 hex digits. */
  hash: string;
  /** What every result of this model carries as `model_version`. */
  version: string;
  executor: ModelExecutor;
  estimator: LatencyEstimator;
  /** Flows using it; the model closes when the last one leaves. */
  users: Set<string>;
}

export interface SharedModelOptions {
  logger: Logger;
  /** Largest batch any flow of this model may plan; the start-up profile covers it. */
  maxBatch: number;
  /** Where latency profiles are cached (default .cache/profiles). */
  profileCacheDir?: string;
  /** Timed runs per (stage, batch size) when no cached profile fits. */
  profileRepeats?: number;
  now?: () => number;
  /** The CPU weights of the models the process serves: each is entitled to weight / sum of the CPU (ModelExecutor). */
  cpuWeights?: () => readonly number[];
  /** Called when the model has loaded and its latency profile is being read or measured (readiness detail). */
  onProfiling?: () => void;
}

export function sharedModelKey(model: ModelConfig): string {
  return JSON.stringify([model.path, model.engine, model.threads]);
}

/** The part of a content hash that results carry as `model_version`. */
export function modelVersionOf(hash: string): string {
  return hash.slice(0, 12);
}

/** The content hash of a model folder as it is now (manifest and stage files); throws when it is not a model. */
export async function folderModelHash(dir: string): Promise<string> {
  return modelHash(dir, await readManifest(dir));
}

/**
 * Loads a model into its engine, checks that it answers (a frame of zeros through every stage), then profiles it on
 * this machine (or reads the cached profile for this model, engine, thread count and CPU) to seed the latency model
 * the controller plans with. Its version is the content hash of the folder, read before and after loading: a folder
 * that changed meanwhile (a copy in progress) is refused rather than served under the wrong version.
 */
export async function openSharedModel(model: ModelConfig, options: SharedModelOptions): Promise<SharedModel> {
  // A folder that is not a model throws its own ManifestError or ModelFileError (a swap counts them as 'load-failed').
  const hashBefore = await folderModelHash(model.path);
  const loaded = await loadModel(model.path, { engine: model.engine, threads: model.threads });
  try {
    const hash = await modelHash(loaded.dir, loaded.manifest).catch(() => '');
    if (hash !== hashBefore) throw new ModelSwapError('changed-while-loading', model.path, 'the folder changed while it was being loaded');
    await validateAnswers(new MultiExitRunner(loaded), model.path);
    options.onProfiling?.();
    const started = Date.now();
    const { profile, cached } = await loadOrMeasureProfile(
      model.path,
      {
        engine: model.engine,
        threads: model.threads,
        maxBatch: options.maxBatch,
        ...(options.profileCacheDir === undefined ? {} : { cacheDir: options.profileCacheDir }),
        ...(options.profileRepeats === undefined ? {} : { repeats: options.profileRepeats }),
      },
      loaded,
    );
    options.logger.info(
      { model: loaded.manifest.name, engine: loaded.engine.backend, cached, ms: Date.now() - started },
      cached ? 'latency profile read from cache' : 'latency profile measured',
    );
    const estimator = new LatencyEstimator(profile.entries);
    const view = modelViewOf(loaded.manifest);
    validateModelView(view, loaded.manifest.stages.length);
    const runner = new MultiExitRunner(loaded);
    const version = modelVersionOf(hash);
    const executor = new ModelExecutor({
      runner,
      estimator,
      model: view,
      engine: model.engine,
      modelVersion: version,
      logger: options.logger.child({ model: loaded.manifest.name }),
      cores: availableParallelism(),
      ...(options.cpuWeights === undefined ? {} : { cpuWeights: options.cpuWeights }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    return { key: sharedModelKey(model), path: model.path, config: model, loaded, hash, version, executor, estimator, users: new Set() };
  } catch (error) {
    await loaded.close();
    throw error;
  }
}

/** One frame of zeros through every stage: each exit gives one finite probability per class, or the model is refused. */
async function validateAnswers(runner: MultiExitRunner, dir: string): Promise<void> {
  const classes = runner.manifest.classes.length;
  let problem: string | undefined;
  try {
    const answer = await runner.run(new Float32Array(inputSize(runner.manifest)));
    if (answer.exits.length !== runner.stageCount) problem = `answered from ${answer.exits.length} of ${runner.stageCount} exits`;
    for (const exit of answer.exits) {
      if (exit.probabilities.length !== classes) problem ??= `exit ${exit.exit} gives ${exit.probabilities.length} probabilities for ${classes} classes`;
      if (!exit.probabilities.every(Number.isFinite)) problem ??= `exit ${exit.exit} gives non-finite probabilities`;
    }
  } catch (error) {
    throw new ModelSwapError('validation-failed', dir, error instanceof Error ? error.message : String(error), { cause: error });
  }
  if (problem !== undefined) throw new ModelSwapError('validation-failed', dir, problem);
}

/** Why `next` cannot take over frames decoded for `serving` (same input and classes needed), or undefined when it can. */
export function swapIncompatibility(serving: SharedModel, next: SharedModel): ModelSwapError | undefined {
  const a = serving.loaded.manifest;
  const b = next.loaded.manifest;
  if (JSON.stringify(a.input) !== JSON.stringify(b.input)) {
    return new ModelSwapError('input-changed', next.path, `input ${JSON.stringify(b.input.shape)} (${b.input.preprocessing.kind}) differs from the serving model's`);
  }
  if (JSON.stringify(a.classes) !== JSON.stringify(b.classes)) return new ModelSwapError('classes-changed', next.path, `classes ${b.classes.join(',')} differ from the serving model's`);
  return undefined;
}

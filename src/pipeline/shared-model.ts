import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { LatencyEstimator, validateModelView } from '../control/index.ts';
import { loadModel, type LoadedModel } from '../model/load-model.ts';
import { MultiExitRunner } from '../model/multi-exit-runner.ts';
import { loadOrMeasureProfile } from '../model/profiler.ts';
import type { ModelConfig } from '../model/model-config.ts';
import { ModelExecutor } from './model-executor.ts';
import { modelViewOf } from './model-view.ts';

/** One loaded model with its latency model and executor, shared by every flow that names the same model. */
export interface SharedModel {
  key: string;
  loaded: LoadedModel;
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
  /** How many models the process serves: each is entitled to an equal share of the CPU (ModelExecutor). */
  modelsSharingCpu?: () => number;
  /** Called when the model has loaded and its latency profile is being read or measured (readiness detail). */
  onProfiling?: () => void;
}

export function sharedModelKey(model: ModelConfig): string {
  return JSON.stringify([model.path, model.engine, model.threads]);
}

/**
 * Loads a model into its engine, then profiles it on this machine (or reads the cached profile for this model,
 * engine, thread count and CPU) to seed the latency model the controller plans with.
 */
export async function openSharedModel(model: ModelConfig, options: SharedModelOptions): Promise<SharedModel> {
  const loaded = await loadModel(model.path, { engine: model.engine, threads: model.threads });
  try {
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
    const executor = new ModelExecutor({
      runner,
      estimator,
      model: view,
      engine: model.engine,
      logger: options.logger.child({ model: loaded.manifest.name }),
      cores: availableParallelism(),
      ...(options.modelsSharingCpu === undefined ? {} : { modelsSharingCpu: options.modelsSharingCpu }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    return { key: sharedModelKey(model), loaded, executor, estimator, users: new Set() };
  } catch (error) {
    await loaded.close();
    throw error;
  }
}

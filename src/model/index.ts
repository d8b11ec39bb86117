/** The model runtime's public API (see src/model/README.md). */
export { loadModel, modelHash, type LoadedModel, type LoadModelOptions } from './load-model.ts';
export {
  MultiExitRunner,
  BatchContinuation,
  runToLastExit,
  stopAtExits,
  stopWhenConfident,
  type BatchRun,
  type ExitDecider,
  type ExitOutput,
  type FrameAnswer,
  type RunBatchOptions,
  type RunnerOptions,
  type StageTiming,
  type StageTimingListener,
} from './multi-exit-runner.ts';
export { readManifest, parseManifest, inputSize, manifestSchema, type Manifest, type ExitSpec, type StageSpec } from './manifest.ts';
export { softmax, argmax, confidence, weightedVote } from './probabilities.ts';
export { loadOrMeasureProfile, measureProfile, type ProfileRequest } from './profiler.ts';
export type { StageLatencyProfileEntry, ProfileEntry, LatencyProfile } from './profile-types.ts';
export type { EngineName, InferenceEngine, FeatureBatch } from './engines/engine.ts';
export { ManifestError, ModelFileError, UnsupportedOperatorError, ModelInputError, DatasetError } from './errors.ts';

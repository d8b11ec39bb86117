import type { Manifest } from '../manifest.ts';

/**
 * One way of executing a model's stage graphs (ONNX Runtime, TensorFlow.js). The runner above it knows nothing of
 * tensors: it hands stage 1 a flat Float32Array and later stages the opaque FeatureBatch the previous stage returned.
 */

export type EngineName = 'onnx' | 'tfjs';
export const ENGINE_NAMES: readonly EngineName[] = ['onnx', 'tfjs'];

/**
 * A stage's `features` output, kept in the engine's own form (an ONNX Runtime tensor, a TensorFlow.js tensor) so
 * that continuing to the next stage does not copy it out and back. Row r belongs to the r-th frame of the batch.
 */
export interface FeatureBatch {
  readonly engine: EngineName;
  readonly batchSize: number;
}

export interface StageResult {
  /**
   * Present for every stage but the last, unless the call said no frame goes on (keepFeatures false). The caller
   * owns it and must release it (engine.release).
   */
  features?: FeatureBatch;
  /** Exit logits, row-major [batchSize, classes], copied out of the engine. */
  logits: Float32Array;
}

export interface EngineOptions {
  /** Threads one stage may use (ONNX Runtime intra-op threads; TensorFlow.js wasm threads where supported). */
  threads?: number;
}

export interface InferenceEngine {
  readonly name: EngineName;
  /** What actually runs underneath, for logs and profiles (e.g. "onnxruntime-node 1.30.0", "tfjs wasm"). */
  readonly backend: string;
  /**
   * Runs stage `stage` (1-based) on `batchSize` rows. Stage 1 takes the preprocessed inputs, row-major
   * [batchSize, ...input.shape]; stage k>1 takes the FeatureBatch of stage k-1 (not released by this call).
   * keepFeatures false: no frame goes on after this stage, so its features are not handed out (for an image model
   * they are megabytes per batch: garbage, and collection pauses, saved).
   */
  runStage(stage: number, input: Float32Array | FeatureBatch, batchSize: number, keepFeatures?: boolean): Promise<StageResult>;
  /** A new FeatureBatch with only the given rows, in the given order (compaction when frames leave the batch). */
  selectRows(features: FeatureBatch, rows: readonly number[]): FeatureBatch;
  /** Frees a FeatureBatch; using it afterwards is an error. */
  release(features: FeatureBatch): void;
  close(): Promise<void>;
}

export type EngineFactory = (modelDir: string, manifest: Manifest, options: EngineOptions) => Promise<InferenceEngine>;

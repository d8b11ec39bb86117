import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Float32Pool } from '../../core/float32-pool.ts';
import { openOnnxStageSession, runsDirect, type OnnxStageSession } from './onnx-stage-session.ts';
import { ModelFileError, ModelInputError } from '../errors.ts';
import { inputSize, type Manifest, type StageSpec } from '../manifest.ts';
import type { EngineOptions, FeatureBatch, InferenceEngine, StageResult } from './engine.ts';

/** Features as ONNX Runtime returned them: the next stage takes this very tensor, no copy. */
class OnnxFeatures implements FeatureBatch {
  readonly engine = 'onnx' as const;
  released = false;
  constructor(readonly tensor: ort.Tensor) {}
  get batchSize(): number {
    return this.tensor.dims[0] ?? 0;
  }
}

interface LoadedStage {
  spec: StageSpec;
  file: string;
  session: OnnxStageSession;
  inputName: string;
  /** Whether the stage has a `features` output (every stage but the last). */
  hasFeatures: boolean;
  /** The input's dimensions after the batch dimension. */
  inputDims: readonly number[];
}

function ortVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The default engine: onnxruntime-node, one InferenceSession per stage. */
export class OnnxEngine implements InferenceEngine {
  readonly name = 'onnx' as const;
  readonly backend: string;

  private constructor(
    private readonly stages: LoadedStage[],
    private readonly inputValues: number,
    threads: number,
  ) {
    this.backend = `onnxruntime-node ${ortVersion()} (cpu, ${threads} intra-op thread${threads === 1 ? '' : 's'}${runsDirect() ? '' : ', public API'})`;
  }

  static async load(modelDir: string, manifest: Manifest, options: EngineOptions = {}): Promise<OnnxEngine> {
    const threads = options.threads ?? 1;
    const sessionOptions: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
    };
    const stages: LoadedStage[] = [];
    try {
      for (const spec of manifest.stages) {
        const file = join(modelDir, spec.file);
        try {
          await access(file);
        } catch (error) {
          throw new ModelFileError(file, `not found (listed as stage ${spec.index} in manifest.json)`, { cause: error });
        }
        let session: OnnxStageSession;
        try {
          session = await openOnnxStageSession(file, sessionOptions);
        } catch (error) {
          throw new ModelFileError(file, `ONNX Runtime cannot load it: ${(error as Error).message}`, { cause: error });
        }
        const stage = checkNames(spec, file, session);
        stages.push(stage);
      }
    } catch (error) {
      await Promise.all(stages.map((s) => s.session.release()));
      throw error;
    }
    return new OnnxEngine(stages, inputSize(manifest), threads);
  }

  async runStage(stageIndex: number, input: Float32Array | FeatureBatch, batchSize: number, keepFeatures = true): Promise<StageResult> {
    const stage = this.stages[stageIndex - 1];
    if (stage === undefined) throw new ModelInputError(`no stage ${stageIndex} (the model has ${this.stages.length})`);
    let tensor: ort.Tensor;
    if (input instanceof Float32Array) {
      if (stageIndex !== 1) throw new ModelInputError(`stage ${stageIndex} takes the features of stage ${stageIndex - 1}, not raw input`);
      if (batchSize < 1 || input.length !== batchSize * this.inputValues) {
        throw new ModelInputError(`stage 1 expects ${batchSize} x ${this.inputValues} values, got ${input.length}`);
      }
      tensor = new ort.Tensor('float32', input, [batchSize, ...stage.inputDims]);
    } else {
      tensor = this.own(input).tensor;
      if (tensor.dims[0] !== batchSize) throw new ModelInputError(`features hold ${tensor.dims[0]} rows, batch size is ${batchSize}`);
    }
    // onnxruntime-node copies every output it fetches into a fresh array (pre-allocated outputs too): features no
    // frame needs are not fetched.
    const wantFeatures = stage.hasFeatures && keepFeatures;
    const feeds = { [stage.inputName]: tensor };
    const outputs = wantFeatures ? await stage.session.run(feeds) : await stage.session.run(feeds, LOGITS_ONLY);
    const logits = outputs.logits;
    if (logits === undefined) throw new ModelFileError(stage.file, 'returned no "logits" output');
    // ONNX Runtime hands out a fresh buffer per run: the logits can be kept without a copy.
    const result: StageResult = { logits: logits.data as Float32Array };
    if (wantFeatures) {
      const features = outputs.features;
      if (features === undefined) throw new ModelFileError(stage.file, 'returned no "features" output');
      result.features = new OnnxFeatures(features);
    }
    return result;
  }

  selectRows(features: FeatureBatch, rows: readonly number[]): FeatureBatch {
    const { tensor } = this.own(features);
    const data = tensor.data as Float32Array;
    const rowSize = data.length / (tensor.dims[0] ?? 1);
    const out = selectedRowsPool.take(rows.length * rowSize);
    rows.forEach((row, i) => out.set(data.subarray(row * rowSize, (row + 1) * rowSize), i * rowSize));
    return new OnnxFeatures(new ort.Tensor('float32', out, [rows.length, ...tensor.dims.slice(1)]));
  }

  release(features: FeatureBatch): void {
    // CPU tensors are plain typed arrays: dropping the reference frees them; marking catches use after release.
    const owned = this.own(features);
    owned.released = true;
    // Rows this engine selected go back for the next compaction (the pool ignores ONNX Runtime's own outputs).
    selectedRowsPool.give(owned.tensor.data as Float32Array);
  }

  async close(): Promise<void> {
    await Promise.all(this.stages.map((s) => s.session.release()));
  }

  private own(features: FeatureBatch): OnnxFeatures {
    if (!(features instanceof OnnxFeatures)) throw new ModelInputError(`features from the ${features.engine} engine given to the onnx engine`);
    if (features.released) throw new ModelInputError('features used after release');
    return features;
  }
}

const LOGITS_ONLY = ['logits'] as const;

/**
 * Compacted feature rows (hundreds of KiB per frame for an image model), reused: each fresh one added to the external
 * memory that makes V8 run full collections. ONNX Runtime copies every output into a fresh array of its own, so only
 * these can be reused.
 */
const selectedRowsPool = new Float32Pool(8);

function checkNames(spec: StageSpec, file: string, session: OnnxStageSession): LoadedStage {
  const inputName = spec.inputs[0]?.name ?? '';
  if (!session.inputNames.includes(inputName)) {
    throw new ModelFileError(file, `has inputs [${session.inputNames.join(', ')}], manifest.json says "${inputName}"`);
  }
  for (const output of spec.outputs) {
    if (!session.outputNames.includes(output.name)) {
      throw new ModelFileError(file, `has outputs [${session.outputNames.join(', ')}], manifest.json lists "${output.name}"`);
    }
  }
  const inputDims = (spec.inputs[0]?.shape ?? []).slice(1);
  return { spec, file, session, inputName, hasFeatures: spec.outputs.some((o) => o.name === 'features'), inputDims };
}

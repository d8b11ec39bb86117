import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgekeError } from '../../errors.ts';
import { ModelFileError, ModelInputError } from '../errors.ts';
import { inputSize, type Manifest } from '../manifest.ts';
import { decodeOnnxModel } from '../onnx/onnx-model.ts';
import { TfjsGraph, type GraphValue, type Tf } from '../onnx/tfjs-graph.ts';
import type { EngineOptions, FeatureBatch, InferenceEngine, StageResult } from './engine.ts';
import { loadTensorflow } from './tfjs-backend.ts';

/** Features as a TensorFlow.js tensor, in whatever layout the interpreter left them (usually channels-last). */
class TfjsFeatures implements FeatureBatch {
  readonly engine = 'tfjs' as const;
  released = false;
  constructor(readonly value: GraphValue) {}
  get batchSize(): number {
    return this.value.tensor.shape[0] ?? 0;
  }
}

/** The TensorFlow.js engine: interprets the very same ONNX stage files with TensorFlow.js ops. */
export class TfjsEngine implements InferenceEngine {
  readonly name = 'tfjs' as const;

  private constructor(
    private readonly tf: Tf,
    readonly backend: string,
    private readonly graphs: TfjsGraph[],
    private readonly manifest: Manifest,
  ) {}

  static async load(modelDir: string, manifest: Manifest, _options: EngineOptions = {}): Promise<TfjsEngine> {
    const runtime = await loadTensorflow();
    const graphs: TfjsGraph[] = [];
    try {
      for (const spec of manifest.stages) {
        const file = join(modelDir, spec.file);
        let bytes: Buffer;
        try {
          bytes = await readFile(file);
        } catch (error) {
          const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
          throw new ModelFileError(file, missing ? `not found (listed as stage ${spec.index} in manifest.json)` : 'cannot be read', { cause: error });
        }
        let graph;
        try {
          graph = decodeOnnxModel(bytes);
        } catch (error) {
          throw new ModelFileError(file, `is not a readable ONNX model: ${(error as Error).message}`, { cause: error });
        }
        const compiled = new TfjsGraph(runtime.tf, graph, file);
        graphs.push(compiled);
        const expectedInput = spec.inputs[0]?.name ?? '';
        if (compiled.inputName !== expectedInput) throw new ModelFileError(file, `has input '${compiled.inputName}', manifest.json says '${expectedInput}'`);
        for (const output of spec.outputs) {
          if (!compiled.outputNames.includes(output.name)) throw new ModelFileError(file, `has no output '${output.name}' (manifest.json lists it)`);
        }
      }
    } catch (error) {
      for (const g of graphs) g.dispose();
      if (error instanceof EdgekeError) throw error;
      throw new ModelFileError(join(modelDir, manifest.stages[graphs.length]?.file ?? ''), (error as Error).message, { cause: error });
    }
    // wasm runs single-threaded in Node (its threaded build needs web workers), so `threads` has no effect here.
    return new TfjsEngine(runtime.tf, `tfjs ${runtime.tf.version_core} (${runtime.backend} backend)`, graphs, manifest);
  }

  async runStage(stageIndex: number, input: Float32Array | FeatureBatch, batchSize: number, keepFeatures = true): Promise<StageResult> {
    const { tf } = this;
    const graph = this.graphs[stageIndex - 1];
    if (graph === undefined) throw new ModelInputError(`no stage ${stageIndex} (the model has ${this.graphs.length})`);
    let value: GraphValue;
    let created = false;
    if (input instanceof Float32Array) {
      if (stageIndex !== 1) throw new ModelInputError(`stage ${stageIndex} takes the features of stage ${stageIndex - 1}, not raw input`);
      const size = inputSize(this.manifest);
      if (batchSize < 1 || input.length !== batchSize * size) throw new ModelInputError(`stage 1 expects ${batchSize} x ${size} values, got ${input.length}`);
      const shape = [batchSize, ...this.manifest.input.shape];
      value = { tensor: tf.tensor(input, shape), layout: 'onnx', spatialRank: shape.length - 2 };
      created = true;
    } else {
      value = this.own(input).value;
      if (value.tensor.shape[0] !== batchSize) throw new ModelInputError(`features hold ${value.tensor.shape[0]} rows, batch size is ${batchSize}`);
    }
    let outputs: Map<string, GraphValue>;
    try {
      outputs = graph.run(value);
    } finally {
      if (created) value.tensor.dispose();
    }
    const logitsValue = outputs.get('logits');
    const featuresValue = outputs.get('features');
    for (const [name, v] of outputs) if (name !== 'logits' && name !== 'features') v.tensor.dispose();
    if (logitsValue === undefined) throw new ModelFileError(graph.inputName, 'returned no "logits" output');
    const logitsTensor = tf.tidy(() => graph.toOnnx(logitsValue).tensor.reshape([batchSize, -1]));
    logitsValue.tensor.dispose();
    const logits = new Float32Array(logitsTensor.dataSync());
    logitsTensor.dispose();
    const result: StageResult = { logits };
    if (featuresValue !== undefined && keepFeatures) result.features = new TfjsFeatures(featuresValue);
    else featuresValue?.tensor.dispose();
    return result;
  }

  selectRows(features: FeatureBatch, rows: readonly number[]): FeatureBatch {
    const { tf } = this;
    const { value } = this.own(features);
    const tensor = tf.tidy(() => tf.gather(value.tensor, tf.tensor1d(Array.from(rows), 'int32')));
    return new TfjsFeatures({ ...value, tensor });
  }

  release(features: FeatureBatch): void {
    const own = this.own(features);
    own.released = true;
    own.value.tensor.dispose();
  }

  async close(): Promise<void> {
    for (const g of this.graphs) g.dispose();
    this.graphs.length = 0;
  }

  private own(features: FeatureBatch): TfjsFeatures {
    if (!(features instanceof TfjsFeatures)) throw new ModelInputError(`features from the ${features.engine} engine given to the tfjs engine`);
    if (features.released) throw new ModelInputError('features used after release');
    return features;
  }
}

import { modelInputPool } from '../core/float32-pool.ts';
import { ModelInputError } from './errors.ts';
import type { FeatureBatch, InferenceEngine } from './engines/engine.ts';
import type { LoadedModel } from './load-model.ts';
import { inputSize, type Manifest } from './manifest.ts';
import { argmax, softmax, weightedVote } from './probabilities.ts';

/**
 * Stage-by-stage execution of a multi-exit model.
 *
 * A batch runs through stage 1; after each stage every frame still running gets its exit's answer and a decision
 * (stop or continue). Frames that stop leave the batch; only the others are carried on, so stage k+1 runs on the
 * compacted rows of stage k's features. Earlier stages are never recomputed: a BatchContinuation holds the features
 * between stages, whether the caller drives it step by step or lets runBatch do it.
 */

/** One exit's answer for one frame. */
export interface ExitOutput {
  /** 1-based exit index (= stage index). */
  exit: number;
  logits: Float32Array;
  probabilities: Float32Array;
  classIndex: number;
  /** Max softmax probability (what the manifest's thresholds are calibrated on). */
  confidence: number;
}

/** One stage execution, for the online latency estimator. `ms` covers the engine call only. */
export interface StageTiming {
  stage: number;
  batchSize: number;
  ms: number;
}

export type StageTimingListener = (timing: StageTiming) => void;

/**
 * Called after every exit of every frame still running, except the last exit (where frames always stop). Same shape
 * as src/control's BatchContinuation.decide: `nowMs` comes from the runner's clock (ms since epoch by default),
 * `output` carries the probabilities for deciders that want more than the confidence.
 */
export type ExitDecider = (
  frameIndex: number,
  exitIndex: number,
  confidence: number,
  nowMs: number,
  output: ExitOutput,
) => 'stop' | 'continue';

export interface RunBatchOptions {
  /** Default: run every frame to the last exit. */
  decide?: ExitDecider;
  /** Also answer each frame with the EdgeKE weighted vote of the exits it reached (manifest `vote.weights`). */
  vote?: boolean;
  /**
   * No frame runs past this exit (e.g. the deepest cap a planner chose): frames stop there as at the last exit, and
   * the stage ending there does not hand out features nobody will use. Default: the last exit.
   */
  lastExit?: number;
}

export interface FrameAnswer {
  frameIndex: number;
  /** The exit the frame stopped at; `exits` ends with it. */
  exit: number;
  output: ExitOutput;
  /** Every exit computed for this frame, shallowest first. */
  exits: ExitOutput[];
  /** Present when RunBatchOptions.vote is set and the manifest has vote weights. */
  vote?: { probabilities: Float32Array; classIndex: number; confidence: number };
  /** From the start of the batch to the end of the stage this frame stopped after. */
  inferMs: number;
}

export interface BatchRun {
  /** In input order. */
  answers: FrameAnswer[];
  /** Every stage execution of this batch, in order. */
  timings: StageTiming[];
}

export interface RunnerOptions {
  /** Clock passed to deciders and used for timings (ms). Default: ms since epoch with sub-ms resolution. */
  now?: () => number;
}

// performance.timeOrigin is a getter that costs about as much as now() itself: read it once.
const TIME_ORIGIN = performance.timeOrigin;
const epochNow = (): number => TIME_ORIGIN + performance.now();

export class MultiExitRunner {
  readonly manifest: Manifest;
  readonly engine: InferenceEngine;
  readonly stageCount: number;
  /** Values per input frame. */
  readonly inputValues: number;
  private readonly listeners = new Set<StageTimingListener>();
  private readonly now: () => number;

  constructor(model: Pick<LoadedModel, 'manifest' | 'engine'>, options: RunnerOptions = {}) {
    this.manifest = model.manifest;
    this.engine = model.engine;
    this.stageCount = model.manifest.stages.length;
    this.inputValues = inputSize(model.manifest);
    this.now = options.now ?? epochNow;
  }

  /** Every stage execution of every batch is reported here; returns the unsubscribe function. */
  onStageTiming(listener: StageTimingListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A continuation over `inputs` (one preprocessed Float32Array per frame); nothing runs until advance(). lastStage:
   * the deepest stage any frame will run (default the model's last); advancing past it is an error.
   */
  begin(inputs: readonly Float32Array[], lastStage = this.stageCount): BatchContinuation {
    return new BatchContinuation(this, inputs, this.now, (t) => this.emit(t), lastStage);
  }

  /** Runs a batch to completion: each frame stops where `decide` says, or at the last exit. */
  async runBatch(inputs: readonly Float32Array[], options: RunBatchOptions = {}): Promise<BatchRun> {
    const decide = options.decide ?? runToLastExit;
    const lastExit = options.lastExit ?? this.stageCount;
    if (!(Number.isInteger(lastExit) && lastExit >= 1 && lastExit <= this.stageCount)) {
      throw new ModelInputError(`lastExit must be an exit of the model (1..${this.stageCount}), got ${lastExit}`);
    }
    const batch = this.begin(inputs, lastExit);
    const start = this.now();
    const reached: ExitOutput[][] = new Array<ExitOutput[]>(inputs.length);
    const answers: FrameAnswer[] = new Array<FrameAnswer>(inputs.length);
    let running: number[] = new Array<number>(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      reached[i] = [];
      running[i] = i;
    }
    try {
      while (running.length > 0) {
        const outputs = await batch.advance(running);
        const last = batch.stagesRun === lastExit;
        const carried: number[] = [];
        const nowMs = this.now();
        for (let i = 0; i < outputs.length; i++) {
          const output = outputs[i] as ExitOutput;
          const frame = running[i] as number;
          const exits = reached[frame] as ExitOutput[];
          exits.push(output);
          if (!last && decide(frame, output.exit, output.confidence, nowMs, output) === 'continue') carried.push(frame);
          else answers[frame] = this.answer(frame, exits, nowMs - start, options.vote === true);
        }
        running = carried;
      }
    } finally {
      batch.release();
    }
    return { answers, timings: batch.timings };
  }

  /** One frame alone (batch of 1). */
  async run(input: Float32Array, options: RunBatchOptions = {}): Promise<FrameAnswer> {
    const { answers } = await this.runBatch([input], options);
    return answers[0] as FrameAnswer;
  }

  private answer(frameIndex: number, exits: ExitOutput[], inferMs: number, vote: boolean): FrameAnswer {
    const output = exits[exits.length - 1] as ExitOutput;
    const answer: FrameAnswer = { frameIndex, exit: output.exit, output, exits, inferMs };
    const weights = this.manifest.vote?.weights;
    if (vote && weights !== undefined) {
      const probabilities = weightedVote(exits.map((e) => e.probabilities), weights);
      const classIndex = argmax(probabilities);
      answer.vote = { probabilities, classIndex, confidence: probabilities[classIndex] as number };
    }
    return answer;
  }

  private emit(timing: StageTiming): void {
    for (const listener of this.listeners) listener(timing);
  }
}

/** Decider that never stops early. */
export const runToLastExit: ExitDecider = () => 'continue';

/** Decider for fixed per-frame target exits (e.g. from an offline plan): frame i stops at exit targets[i]. */
export function stopAtExits(targets: readonly number[]): ExitDecider {
  return (frame, exit) => (exit >= (targets[frame] ?? Infinity) ? 'stop' : 'continue');
}

/** Decider that stops a frame as soon as its confidence reaches `threshold[exit - 1]` (null: never at that exit). */
export function stopWhenConfident(thresholds: readonly (number | null)[]): ExitDecider {
  return (_frame, exit, confidence) => {
    const t = thresholds[exit - 1];
    return t !== undefined && t !== null && confidence >= t ? 'stop' : 'continue';
  };
}

/**
 * The state of one batch between stages. `advance(frames)` runs the next stage for those frames (a subset of the
 * frames still active, in any order) and drops the others; their features are freed. Always call release() at the
 * end (runBatch does), also after an error.
 */
export class BatchContinuation {
  /** Stages run so far (0 before the first advance). */
  stagesRun = 0;
  readonly timings: StageTiming[] = [];
  private features: FeatureBatch | undefined;
  /** The frame of each row of `features`, in row order (a batch holds at most a few dozen frames). */
  private featureFrames: readonly number[] = NO_FRAMES;
  private readonly inputValues: number;

  constructor(
    private readonly runner: MultiExitRunner,
    private readonly inputs: readonly Float32Array[],
    private readonly now: () => number,
    private readonly report: (timing: StageTiming) => void,
    private readonly lastStage: number,
  ) {
    this.inputValues = runner.inputValues;
    for (let i = 0; i < inputs.length; i++) {
      const length = inputs[i]?.length;
      if (length !== this.inputValues) throw new ModelInputError(`frame ${i}: expected ${this.inputValues} input values, got ${length}`);
    }
    if (inputs.length === 0) throw new ModelInputError('empty batch');
  }

  get size(): number {
    return this.inputs.length;
  }

  /** Frames that can still continue (all frames before the first stage). */
  get active(): number[] {
    return this.stagesRun === 0 ? this.inputs.map((_, i) => i) : [...this.featureFrames];
  }

  /** Runs stage `stagesRun + 1` for `frames`; returns their exit outputs in the same order. */
  async advance(frames: readonly number[] = this.active): Promise<ExitOutput[]> {
    const { engine, stageCount, manifest } = this.runner;
    const stage = this.stagesRun + 1;
    if (stage > stageCount) throw new ModelInputError(`the batch already ran all ${stageCount} stages`);
    if (stage > this.lastStage) throw new ModelInputError(`the batch was begun to run at most ${this.lastStage} stages`);
    if (frames.length === 0) throw new ModelInputError('advance() needs at least one frame');
    let input: Float32Array | FeatureBatch;
    let selected: FeatureBatch | undefined;
    let packed: Float32Array | undefined;
    if (stage === 1) {
      const rows: Float32Array[] = new Array<Float32Array>(frames.length);
      for (let i = 0; i < frames.length; i++) {
        const row = this.inputs[frames[i] as number];
        if (row === undefined) throw new ModelInputError(`frame ${frames[i]} is not in the batch`);
        rows[i] = row;
      }
      // One frame runs from its own array; a batch is packed row-major (the engines take one contiguous tensor).
      if (rows.length > 1) packed = packRows(rows, this.inputValues);
      input = packed ?? (rows[0] as Float32Array);
    } else {
      const features = this.features as FeatureBatch;
      const rows = frames.map((frame) => {
        const row = this.featureFrames.indexOf(frame);
        if (row < 0) throw new ModelInputError(`frame ${frame} left the batch before stage ${stage}`);
        return row;
      });
      // Compaction: only the rows of frames that continue run the next stage (no copy when all continue in order).
      const identity = rows.length === features.batchSize && rows.every((r, i) => r === i);
      if (!identity) selected = engine.selectRows(features, rows);
      input = selected ?? features;
    }
    const started = this.now();
    let result;
    try {
      result = await engine.runStage(stage, input, frames.length, stage < this.lastStage);
    } finally {
      if (selected !== undefined) engine.release(selected);
      // The engines are done with their input once the stage returns (ONNX Runtime runs synchronously; tfjs copies).
      if (packed !== undefined) modelInputPool.give(packed);
    }
    const ms = this.now() - started;
    this.dropFeatures();
    this.stagesRun = stage;
    if (result.features !== undefined) {
      this.features = result.features;
      this.featureFrames = frames.slice();
    }
    const timing = { stage, batchSize: frames.length, ms };
    this.timings.push(timing);
    this.report(timing);
    const classes = manifest.classes.length;
    if (result.logits.length !== frames.length * classes) {
      throw new ModelInputError(`stage ${stage} returned ${result.logits.length} logits for ${frames.length} frames x ${classes} classes`);
    }
    const outputs: ExitOutput[] = new Array<ExitOutput>(frames.length);
    for (let i = 0; i < frames.length; i++) {
      // The engines hand out a fresh logits buffer per run: a lone frame keeps it as it is, a batch gets views.
      const logits = frames.length === 1 ? result.logits : result.logits.subarray(i * classes, (i + 1) * classes);
      const probabilities = softmax(logits);
      const classIndex = argmax(probabilities);
      outputs[i] = { exit: stage, logits, probabilities, classIndex, confidence: probabilities[classIndex] as number };
    }
    return outputs;
  }

  /** Frees the features still held. Safe to call more than once. */
  release(): void {
    this.dropFeatures();
  }

  private dropFeatures(): void {
    if (this.features !== undefined) this.runner.engine.release(this.features);
    this.features = undefined;
    this.featureFrames = NO_FRAMES;
  }
}

const NO_FRAMES: readonly number[] = [];

function packRows(rows: readonly Float32Array[], size: number): Float32Array {
  const packed = modelInputPool.take(rows.length * size);
  rows.forEach((row, i) => packed.set(row, i * size));
  return packed;
}

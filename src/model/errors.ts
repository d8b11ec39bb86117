import { EdgekeError } from '../errors.ts';

/**
 * Errors of the model runtime. None is retryable: a model folder, an ONNX graph or a data set that is wrong stays
 * wrong until someone fixes the file. Each message names the file and what is wrong with it.
 */

/** manifest.json is missing, is not JSON, or does not follow docs/model-format.md. */
export class ManifestError extends EdgekeError {
  constructor(readonly file: string, problem: string, options?: { cause?: unknown }) {
    super('EDGEKE_MODEL_MANIFEST', `${file}: ${problem}`, false, options);
  }
}

/** A stage's ONNX file is missing, unreadable or not a graph the runtime can run. */
export class ModelFileError extends EdgekeError {
  constructor(readonly file: string, problem: string, options?: { cause?: unknown }) {
    super('EDGEKE_MODEL_FILE', `${file}: ${problem}`, false, options);
  }
}

/** The graph uses an operator outside the list in docs/model-format.md (the TensorFlow.js engine cannot run it). */
export class UnsupportedOperatorError extends EdgekeError {
  constructor(readonly file: string, readonly opType: string, readonly node: string) {
    super(
      'EDGEKE_MODEL_UNSUPPORTED_OP',
      `${file}: operator ${opType} (node '${node}') is not in the model format's operator list`,
      false,
    );
  }
}

/** An inference call whose inputs do not fit the model (wrong length, empty batch, unknown exit). */
export class ModelInputError extends EdgekeError {
  constructor(problem: string) {
    super('EDGEKE_MODEL_INPUT', problem, false);
  }
}

/** A test split that cannot be found or read for `edgeke eval`. */
export class DatasetError extends EdgekeError {
  constructor(readonly file: string, problem: string, options?: { cause?: unknown }) {
    super('EDGEKE_DATASET', `${file}: ${problem}`, false, options);
  }
}

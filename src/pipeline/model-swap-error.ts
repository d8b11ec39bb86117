import { EdgekeError } from '../errors.ts';

/**
 * Why a model could not replace the one serving a flow (src/pipeline/model-swap.ts). The old model keeps serving;
 * the reason is logged and counted in `edgeke_model_swaps_total{result="failed",reason}`.
 * - `load-failed`: the new folder's manifest or a stage file is missing or broken (the cause says which).
 * - `changed-while-loading`: the folder changed while it was read (a copy still in progress); tried again when it settles.
 * - `input-changed`, `classes-changed`: the new model takes another input or answers other classes than the one it
 *   would replace; frames already decoded for the old one could not run on it. Restart the flow to change these.
 * - `validation-failed`: a frame of zeros through every stage did not give one finite probability per class.
 */
export type ModelSwapFailure = 'load-failed' | 'changed-while-loading' | 'input-changed' | 'classes-changed' | 'validation-failed';

export class ModelSwapError extends EdgekeError {
  constructor(readonly reason: ModelSwapFailure, readonly dir: string, problem: string, options?: { cause?: unknown }) {
    super('EDGEKE_MODEL_SWAP', `${dir}: not swapped in (${reason}): ${problem}`, false, options);
  }
}

/** The stable reason of any error a swap attempt ended with. */
export function swapFailureOf(error: unknown): ModelSwapFailure {
  return error instanceof ModelSwapError ? error.reason : 'load-failed';
}

import { DecodeError } from './decode-error.ts';
import type { SignalPreprocessingSpec } from './input-spec.ts';

const ZSCORE_EPSILON = 1e-8;

/**
 * One signal window to the model input ([1, windowLength], row-major): checks length and finiteness, then applies
 * the manifest's normalisation (zscore = per window, (x - mean) / (population std + 1e-8), computed in float64).
 */
export function preprocessSignal(samples: ArrayLike<number>, spec: SignalPreprocessingSpec): Float32Array {
  const length = spec.windowLength;
  if (samples.length !== length) {
    throw new DecodeError('wrong-shape', `expected a window of ${length} samples, got ${samples.length}`);
  }
  let sum = 0;
  for (let index = 0; index < length; index += 1) {
    const value = samples[index] as number;
    if (!Number.isFinite(value)) throw new DecodeError('non-finite', `sample ${index} is NaN or infinite`);
    sum += value;
  }
  const tensor = new Float32Array(length);
  if (spec.normalization === 'none') {
    for (let index = 0; index < length; index += 1) tensor[index] = samples[index] as number;
    return checkFinite(tensor);
  }
  const mean = sum / length;
  let squares = 0;
  for (let index = 0; index < length; index += 1) squares += ((samples[index] as number) - mean) ** 2;
  const scale = 1 / (Math.sqrt(squares / length) + ZSCORE_EPSILON);
  for (let index = 0; index < length; index += 1) tensor[index] = ((samples[index] as number) - mean) * scale;
  return checkFinite(tensor);
}

/** Finite float64 samples can still overflow float32 (|x| > 3.4e38) or in the variance sum. */
function checkFinite(tensor: Float32Array): Float32Array {
  for (let index = 0; index < tensor.length; index += 1) {
    if (!Number.isFinite(tensor[index])) throw new DecodeError('non-finite', 'samples overflow float32 after preprocessing');
  }
  return tensor;
}

/**
 * The part of a model manifest's `input` that decoders need (docs/model-format.md). Structural, so the runtime's
 * Manifest['input'] can be passed as is.
 */
export interface ImagePreprocessingSpec {
  kind: 'image';
  width: number;
  height: number;
  /** 1 = grayscale luminance, 3 = RGB. */
  channels: 1 | 3;
  resize: 'bilinear' | 'nearest';
  fit: 'fill';
  scale: number;
  mean: readonly number[];
  std: readonly number[];
}

export interface SignalPreprocessingSpec {
  kind: 'signal';
  windowLength: number;
  sampleRateHz: number;
  normalization: 'zscore' | 'none';
}

export interface InputSpec {
  /** Without the batch dimension: [channels, height, width] for images, [1, length] for signals. */
  shape: readonly number[];
  preprocessing: ImagePreprocessingSpec | SignalPreprocessingSpec;
}

export function tensorLength(shape: readonly number[]): number {
  return shape.reduce((product, dimension) => product * dimension, 1);
}

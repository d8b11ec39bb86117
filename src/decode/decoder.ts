import type { Frame, RawMessage } from '../core/frame.ts';
import type { DecodeError } from './decode-error.ts';
import type { ImagePreprocessingSpec, InputSpec } from './input-spec.ts';
import type { PayloadMetadata } from './frame-metadata.ts';

/** Every message yields a Frame or a typed rejection; decoders never throw. */
export type DecodeResult = { ok: true; frame: Frame } | { ok: false; error: DecodeError };

export interface Decoder {
  readonly kind: DecodeKindName;
  decode(message: RawMessage): Promise<DecodeResult>;
}

export type DecodeKindName = 'image' | 'json-values' | 'float32' | 'opcua-samples';

/**
 * Turns encoded image bytes (JPEG or PNG, already sniffed) into the model input per the manifest's preprocessing:
 * the runtime's src/decode/image.ts (sharp). Throwing means the image could not be decoded.
 */
export type ImageTensorDecoder = (bytes: Buffer, preprocessing: ImagePreprocessingSpec, limits: ImageLimits) => Promise<Float32Array>;

/** Bounds on an image's declared size, checked from its header before any decoding (reason image-too-large). */
export interface ImageLimits {
  /** Width x height. */
  maxPixels: number;
  /** Width and height each. */
  maxSide: number;
}

export interface DecoderOptions {
  flow: string;
  /** The model manifest's `input` (shape and preprocessing). */
  input: InputSpec;
  /** The model's class names, to check labels (and accept them by name). */
  classes?: readonly string[];
  /** From the flow's limits.maxPayloadBytes: checked before any parsing. */
  maxPayloadBytes: number;
  /**
   * The `image` decoder's bounds, read for every frame (so a live edit of the flow's limits applies from the next
   * one); default: derived from the model input (resolveImageLimits in src/flows/schema.ts).
   */
  imageLimits?: () => ImageLimits;
  /** Used by the `image` decoder; default: src/decode/image.ts (sharp). */
  decodeImage?: ImageTensorDecoder;
  /** Ids for frames whose device sent none; default `<flow>-<counter>`. */
  newId?: () => string;
}

/** What one kind of payload decoder produces before the common checks and the Frame are added. */
export interface DecodedPayload {
  tensor: Float32Array;
  metadata: PayloadMetadata;
}

export type PayloadDecoder = (message: RawMessage, options: DecoderOptions) => DecodedPayload | Promise<DecodedPayload>;

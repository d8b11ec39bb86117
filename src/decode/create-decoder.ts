import type { RawMessage } from '../core/frame.ts';
import { ConfigError } from '../errors.ts';
import { DecodeError, metadataOf } from './decode-error.ts';
import type { DecodeKindName, DecodeResult, Decoder, DecoderOptions, ImageTensorDecoder, PayloadDecoder } from './decoder.ts';
import { decodeFloat32 } from './float32.ts';
import { buildFrame, sequentialIds } from './frame-metadata.ts';
import { decodeImagePayload } from './image-payload.ts';
import { tensorLength } from './input-spec.ts';
import { decodeJsonValues } from './json-values.ts';
import { decodeOpcuaSamples } from './opcua-samples.ts';

const PAYLOAD_DECODERS: Record<DecodeKindName, { decode: PayloadDecoder; preprocessing: 'image' | 'signal' }> = {
  image: { decode: decodeImagePayload, preprocessing: 'image' },
  'json-values': { decode: decodeJsonValues, preprocessing: 'signal' },
  float32: { decode: decodeFloat32, preprocessing: 'signal' },
  'opcua-samples': { decode: decodeOpcuaSamples, preprocessing: 'signal' },
};

/**
 * The decoder of a flow (its `decode` kind) for its model's input. Throws ConfigError when the kind does not fit
 * the model (image decoder for a signal model, ...): that is bad config, found before anything connects.
 */
export function createDecoder(kind: DecodeKindName, options: DecoderOptions): Decoder {
  const entry = PAYLOAD_DECODERS[kind];
  const preprocessing = options.input.preprocessing.kind;
  if (entry.preprocessing !== preprocessing) {
    throw new ConfigError(`flow ${options.flow}: decode '${kind}' needs a model with ${entry.preprocessing} input, the model takes ${preprocessing} input`);
  }
  const expectedLength = tensorLength(options.input.shape);
  const newId = options.newId ?? sequentialIds(options.flow);
  const payloadOptions: DecoderOptions = kind === 'image' && options.decodeImage === undefined ? { ...options, decodeImage: loadImageDecoder } : options;

  async function decode(message: RawMessage): Promise<DecodeResult> {
    try {
      checkSize(message, options.maxPayloadBytes);
      const { tensor, metadata } = await entry.decode(message, payloadOptions);
      if (tensor.length !== expectedLength) {
        const error = new DecodeError('wrong-shape', `expected ${expectedLength} values for shape [${options.input.shape.join(', ')}], got ${tensor.length}`);
        error.envelope = metadataOf(metadata);
        throw error;
      }
      return { ok: true, frame: buildFrame(message, tensor, metadata, newId) };
    } catch (error) {
      if (error instanceof DecodeError) return { ok: false, error };
      // A bug, not bad input: still a typed per-frame rejection, so the stream goes on (and the fuzz test notices).
      return { ok: false, error: new DecodeError('internal', 'unexpected decoder failure', { cause: error }) };
    }
  }

  return { kind, decode };
}

/** The runtime's sharp-based image decoder, loaded on first use so signal-only processes never load sharp. */
const loadImageDecoder: ImageTensorDecoder = async (bytes, preprocessing) => (await import('./image.ts')).decodeImage(bytes, preprocessing);

/** Before any parsing, so an oversized payload costs nothing. */
function checkSize(message: RawMessage, maxPayloadBytes: number): void {
  const size = message.payload.kind === 'bytes' ? message.payload.bytes.length : message.payload.values.byteLength;
  if (size > maxPayloadBytes) throw new DecodeError('payload-too-large', `payload of ${size} bytes exceeds limits.maxPayloadBytes ${maxPayloadBytes}`);
}

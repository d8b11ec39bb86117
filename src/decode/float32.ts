import { DecodeError } from './decode-error.ts';
import type { PayloadDecoder } from './decoder.ts';
import type { SignalPreprocessingSpec } from './input-spec.ts';
import { payloadBytes } from './payload-bytes.ts';
import { preprocessSignal } from './signal-window.ts';

const FLOAT32_BYTES = 4;

/** Raw little-endian float32 samples; id and capture time come from the transport (MQTT 5 user properties). */
export const decodeFloat32: PayloadDecoder = (message, options) => {
  const bytes = payloadBytes(message);
  if (bytes.length % FLOAT32_BYTES !== 0) {
    throw new DecodeError('wrong-shape', `payload length ${bytes.length} is not a multiple of 4 bytes (float32)`);
  }
  const samples = new Float32Array(bytes.length / FLOAT32_BYTES);
  // DataView: the payload buffer may be unaligned and the host's byte order is not assumed.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let index = 0; index < samples.length; index += 1) samples[index] = view.getFloat32(index * FLOAT32_BYTES, true);
  return { tensor: preprocessSignal(samples, options.input.preprocessing as SignalPreprocessingSpec), metadata: {} };
};

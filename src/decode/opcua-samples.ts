import { DecodeError } from './decode-error.ts';
import type { PayloadDecoder } from './decoder.ts';
import type { SignalPreprocessingSpec } from './input-spec.ts';
import { preprocessSignal } from './signal-window.ts';

/** A window the OPC UA source has already joined from sample blocks; capture time comes from its timestamps. */
export const decodeOpcuaSamples: PayloadDecoder = (message, options) => {
  if (message.payload.kind !== 'samples') throw new DecodeError('wrong-payload-kind', 'opcua-samples reads sample windows, got bytes');
  return { tensor: preprocessSignal(message.payload.values, options.input.preprocessing as SignalPreprocessingSpec), metadata: {} };
};

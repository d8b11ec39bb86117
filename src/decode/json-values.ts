import { DecodeError, keepingEnvelope } from './decode-error.ts';
import type { PayloadDecoder } from './decoder.ts';
import type { SignalPreprocessingSpec } from './input-spec.ts';
import { parseJsonEnvelope } from './json-envelope.ts';
import { payloadBytes } from './payload-bytes.ts';
import { preprocessSignal } from './signal-window.ts';

/** `{"id", "ts", "values": [numbers], "label"?}`: one sensor window per message. */
export const decodeJsonValues: PayloadDecoder = (message, options) => {
  const envelope = parseJsonEnvelope(payloadBytes(message), options.classes);
  return keepingEnvelope(envelope, () => {
    const values = envelope.body.values;
    if (values === undefined) throw new DecodeError('missing-field', 'expected a "values" array');
    if (!Array.isArray(values)) throw new DecodeError('bad-field-type', '"values" must be an array of numbers');
    for (let index = 0; index < values.length; index += 1) {
      if (typeof values[index] !== 'number') throw new DecodeError('bad-field-type', `"values"[${index}] is not a number`);
    }
    const tensor = preprocessSignal(values as number[], options.input.preprocessing as SignalPreprocessingSpec);
    return { tensor, metadata: envelope };
  });
};

/**
 * The `limits` block of a flow file (the bounds on input: payload and image sizes the decoders accept, and the
 * frames waiting or in flight): its zod piece (composed in src/flows/schema.ts), its type and its defaults.
 */
import { z } from 'zod';
import { doc, positiveInt } from '../config/field-doc.ts';
import { IMAGE_PIXELS_PER_INPUT_PIXEL, IMAGE_SIDE_PER_INPUT_SIDE } from './image-limits.ts';

/** What the flow schema fills in for a limits block that leaves these out (the image bounds follow the model). */
export const INPUT_LIMITS_DEFAULTS = {
  maxPayloadBytes: 4 * 1024 * 1024,
  queueCapacity: 64,
  maxInFlight: 256,
} as const;

export const limitsSchema = z
  .object({
    maxPayloadBytes: doc(positiveInt().default(INPUT_LIMITS_DEFAULTS.maxPayloadBytes), 'Largest payload decoded; larger ones are rejected before parsing.', 4_194_304),
    queueCapacity: doc(positiveInt().default(INPUT_LIMITS_DEFAULTS.queueCapacity), 'Frames waiting for inference before admission sheds.', 64),
    maxInFlight: doc(
      positiveInt().max(65_535).default(INPUT_LIMITS_DEFAULTS.maxInFlight),
      'Most messages received and not yet acknowledged (the MQTT 5 receive maximum). Frames wait for the decoder newest first and are shed as their deadline runs out, so this only bounds memory (at most maxInFlight x maxPayloadBytes); beyond it the oldest waiting frame is shed (queue-full).',
      256,
    ),
    maxImagePixels: doc(
      positiveInt().optional(),
      `Largest image (width x height, as its header declares) decoded; larger ones are rejected (reason image-too-large) before any decoding. Default: ${IMAGE_PIXELS_PER_INPUT_PIXEL}x the model input's pixels.`,
      2_560_000,
    ),
    maxImageSide: doc(
      positiveInt().optional(),
      `Largest image width or height, in pixels, decoded; checked from the header like maxImagePixels. Default: ${IMAGE_SIDE_PER_INPUT_SIDE}x the model input's larger side.`,
      3200,
    ),
  })
  .strict();

export type LimitsConfig = z.infer<typeof limitsSchema>;

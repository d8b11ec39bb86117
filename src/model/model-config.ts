/** The `model` block of a flow file: its zod piece (composed in src/flows/schema.ts), its type and its defaults. */
import { z } from 'zod';
import { doc, positiveInt } from '../config/field-doc.ts';

/** What the flow schema fills in for a model block that leaves these out. */
export const MODEL_DEFAULTS = { engine: 'onnx', threads: 1 } as const;

export const modelSchema = z
  .object({
    path: doc(z.string().min(1), 'Model folder (with manifest.json), relative to the working directory.', 'models/neu-surface'),
    engine: doc(z.enum(['onnx', 'tfjs']).default(MODEL_DEFAULTS.engine), 'Inference engine.', 'onnx'),
    threads: doc(positiveInt().max(64).default(MODEL_DEFAULTS.threads), 'Intra-op threads for the engine.', 1),
  })
  .strict();

export type ModelConfig = z.infer<typeof modelSchema>;

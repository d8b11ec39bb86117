/**
 * The `batching` block of a flow file (micro-batches the planner forms in front of the model): its zod piece
 * (composed in src/flows/schema.ts), its type and its defaults.
 */
import { z } from 'zod';
import { doc, positiveInt } from '../config/field-doc.ts';

/** What the flow schema fills in for a batching block that leaves these out. */
export const BATCHING_DEFAULTS = { maxBatch: 4, maxWaitMs: 5 } as const;

export const batchingSchema = z
  .object({
    maxBatch: doc(positiveInt().max(256).default(BATCHING_DEFAULTS.maxBatch), 'Most frames run through the model together.', 8),
    maxWaitMs: doc(z.number().nonnegative().default(BATCHING_DEFAULTS.maxWaitMs), 'Longest a frame waits for a batch to fill, in milliseconds.', 5),
  })
  .strict();

export type BatchingConfig = z.infer<typeof batchingSchema>;

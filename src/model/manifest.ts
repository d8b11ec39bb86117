import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { ManifestError } from './errors.ts';

/**
 * manifest.json of a model folder (docs/model-format.md), as a zod schema: the schema is the single source of truth,
 * the TypeScript types are derived from it. Unknown fields are kept where training adds free-form information
 * (dataset, teacher, training), dropped elsewhere.
 */

const positiveInt = z.number().int().positive();
/** A tensor shape whose first (batch) dimension may be dynamic (-1). */
const stageShape = z.array(z.number().int().refine((d) => d > 0 || d === -1, 'dimension must be > 0 or -1'));

export const imagePreprocessingSchema = z.object({
  kind: z.literal('image'),
  width: positiveInt,
  height: positiveInt,
  /** 1 = grayscale luminance, 3 = RGB. */
  channels: z.union([z.literal(1), z.literal(3)]),
  resize: z.enum(['bilinear', 'nearest']),
  fit: z.literal('fill'),
  scale: z.number().positive(),
  mean: z.array(z.number()).min(1),
  std: z.array(z.number().positive()).min(1),
});

export const signalPreprocessingSchema = z.object({
  kind: z.literal('signal'),
  windowLength: positiveInt,
  sampleRateHz: z.number().positive(),
  normalization: z.enum(['zscore', 'none']),
});

export const preprocessingSchema = z.discriminatedUnion('kind', [imagePreprocessingSchema, signalPreprocessingSchema]);

const tensorSpecSchema = z.object({ name: z.string().min(1), shape: stageShape });

export const stageSchema = z.object({
  index: positiveInt,
  file: z.string().min(1).refine((f) => !f.includes('..') && !f.startsWith('/'), 'must be a file inside the model folder'),
  inputs: z.array(tensorSpecSchema).length(1),
  outputs: z.array(tensorSpecSchema).min(1).max(2),
  flops: z.number().nonnegative(),
  params: z.number().nonnegative(),
});

export const exitSchema = z.object({
  index: positiveInt,
  stage: positiveInt,
  flops: z.number().nonnegative(),
  params: z.number().nonnegative(),
  testAccuracy: z.number().min(0).max(1),
  validationAccuracy: z.number().min(0).max(1),
  /** Target accuracy (as a string key, e.g. "0.95") → lowest max-softmax confidence that reaches it, or null. */
  thresholds: z.record(z.string(), z.number().min(0).max(1).nullable()),
});

/**
 * What a confidence stop cost on the validation split (training/calibration.py, stop_losses): of the frames whose
 * confidence first passes `level`'s threshold at `exit`, the accuracy at `laterExit` minus the accuracy at `exit`
 * (`loss`, negative where stopping helped) and the share answered differently there.
 */
export const stopLossSchema = z.object({
  exit: positiveInt,
  level: z.enum(['0.90', '0.95', '0.99']),
  laterExit: positiveInt,
  frames: positiveInt,
  loss: z.number().min(-1).max(1),
  disagreement: z.number().min(0).max(1),
});

/**
 * Where `edgeke eval` finds the test split. Optional: without it the runtime looks for data that matches the
 * manifest's classes and input (see src/model/datasets/locate.ts). Relative paths are taken from the model folder where
 * they exist there (`edgeke train` writes test/ into it), else from the repository root.
 */
export const testDataSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('image-folder'), path: z.string().min(1) }),
  z.object({ kind: z.literal('idx'), images: z.string().min(1), labels: z.string().min(1) }),
  z.object({ kind: z.literal('signal-segments'), index: z.string().min(1), hop: positiveInt.optional() }),
]);

export const manifestSchema = z
  .object({
    format: z.literal('edgeke-multi-exit/1'),
    name: z.string().min(1),
    task: z.enum(['image-classification', 'signal-classification']),
    classes: z.array(z.string().min(1)).min(2),
    input: z.object({
      name: z.string().min(1),
      shape: z.array(positiveInt).min(2).max(3),
      layout: z.enum(['NCHW', 'NCL']),
      dtype: z.literal('float32'),
      preprocessing: preprocessingSchema,
    }),
    stages: z.array(stageSchema).min(1),
    exits: z.array(exitSchema).min(1),
    vote: z
      .object({
        weights: z.array(z.number().nonnegative()),
        validationAccuracy: z.number().min(0).max(1).optional(),
        testAccuracy: z.number().min(0).max(1).optional(),
        beatsLastExit: z.boolean().optional(),
        /**
         * Per confidence level, on the validation frames that pass no exit's threshold there (the only frames the
         * runtime answers by vote): whether the vote beat the last exit on them.
         */
        byLevel: z
          .partialRecord(
            z.enum(['0.90', '0.95', '0.99']),
            z.object({
              frames: positiveInt,
              accuracy: z.number().min(0).max(1),
              lastExitAccuracy: z.number().min(0).max(1),
              beatsLastExit: z.boolean(),
            }),
          )
          .optional(),
      })
      .nullish()
      .transform((v) => v ?? undefined),
    stopLoss: z.array(stopLossSchema).optional(),
    teacher: z.looseObject({}).optional(),
    dataset: z
      .looseObject({
        name: z.string().optional(),
        split: z.string().optional(),
        credit: z.string().optional(),
        test: testDataSchema.optional(),
        evaluation: z.looseObject({ windowLength: positiveInt.optional(), hop: positiveInt.optional() }).optional(),
      })
      .optional(),
    training: z.looseObject({}).optional(),
  })
  .superRefine((m, ctx) => {
    const issue = (path: (string | number)[], message: string): void => {
      ctx.addIssue({ code: 'custom', path, message });
    };
    m.stages.forEach((stage, i) => {
      if (stage.index !== i + 1) issue(['stages', i, 'index'], `expected ${i + 1} (stages are listed in order from 1)`);
      const last = i === m.stages.length - 1;
      const names = stage.outputs.map((o) => o.name);
      if (!names.includes('logits')) issue(['stages', i, 'outputs'], 'needs an output named "logits"');
      if (!last && !names.includes('features')) issue(['stages', i, 'outputs'], 'needs an output named "features" (every stage but the last)');
    });
    if (m.stages[0] !== undefined && m.stages[0].inputs[0]?.name !== m.input.name) {
      issue(['stages', 0, 'inputs', 0, 'name'], `expected the model input name "${m.input.name}"`);
    }
    // One exit per stage: exit k is stage k's logits (docs/model-format.md, "Stage graphs").
    if (m.exits.length !== m.stages.length) issue(['exits'], `expected one exit per stage (${m.stages.length}), got ${m.exits.length}`);
    m.exits.forEach((exit, i) => {
      if (exit.index !== i + 1) issue(['exits', i, 'index'], `expected ${i + 1}`);
      if (exit.stage !== i + 1) issue(['exits', i, 'stage'], `expected ${i + 1} (exit k is stage k's logits)`);
    });
    if (m.vote != null && m.vote.weights.length !== m.exits.length) {
      issue(['vote', 'weights'], `expected one weight per exit (${m.exits.length}), got ${m.vote.weights.length}`);
    }
    m.stopLoss?.forEach((entry, i) => {
      if (!(entry.exit < entry.laterExit && entry.laterExit <= m.exits.length)) {
        issue(['stopLoss', i], `expected exit < laterExit <= ${m.exits.length}, got exit ${entry.exit}, laterExit ${entry.laterExit}`);
      }
      if (entry.loss > entry.disagreement + 1e-9) issue(['stopLoss', i, 'loss'], 'cannot exceed the disagreement it comes from');
    });
    const p = m.input.preprocessing;
    if (p.kind === 'image') {
      if (m.input.layout !== 'NCHW') issue(['input', 'layout'], 'image preprocessing needs layout NCHW');
      const expected = [p.channels, p.height, p.width];
      if (m.input.shape.join(',') !== expected.join(',')) issue(['input', 'shape'], `expected [${expected.join(', ')}] from the preprocessing`);
      if (p.mean.length !== p.channels || p.std.length !== p.channels) issue(['input', 'preprocessing'], `mean and std need ${p.channels} value(s)`);
    } else {
      if (m.input.layout !== 'NCL') issue(['input', 'layout'], 'signal preprocessing needs layout NCL');
      if (m.input.shape.join(',') !== `1,${p.windowLength}`) issue(['input', 'shape'], `expected [1, ${p.windowLength}] from the preprocessing`);
    }
  });

export type Manifest = z.infer<typeof manifestSchema>;
export type StageSpec = z.infer<typeof stageSchema>;
export type ExitSpec = z.infer<typeof exitSchema>;
export type Preprocessing = z.infer<typeof preprocessingSchema>;
export type ImagePreprocessing = z.infer<typeof imagePreprocessingSchema>;
export type SignalPreprocessing = z.infer<typeof signalPreprocessingSchema>;
export type TestDataSpec = z.infer<typeof testDataSchema>;

/** Validates parsed JSON; `file` is only used in the error message. */
export function parseManifest(json: unknown, file: string): Manifest {
  const result = manifestSchema.safeParse(json);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new ManifestError(file, `does not follow docs/model-format.md:\n  ${problems.join('\n  ')}`);
}

/** Reads and validates `<modelDir>/manifest.json`. */
export async function readManifest(modelDir: string): Promise<Manifest> {
  const file = join(modelDir, 'manifest.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ManifestError(file, missing ? 'not found (is this a model folder?)' : 'cannot be read', { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(file, `is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  return parseManifest(json, file);
}

/** Number of float32 values in one model input (the input shape without batch). */
export function inputSize(manifest: Manifest): number {
  return manifest.input.shape.reduce((a, b) => a * b, 1);
}

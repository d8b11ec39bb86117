import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { DatasetError } from '../errors.ts';
import type { SignalPreprocessing } from '../manifest.ts';
import { type TestSet } from './test-set.ts';

/**
 * Test segments of a signal data set (data/<name>/test/index.json): raw little-endian float32 files, one class each.
 * Windows start at sample 0 and every `hop` samples while they fit; each window is normalised on its own.
 */
export const segmentIndexSchema = z.object({
  classes: z.array(z.string()).optional(),
  evaluation: z.looseObject({ windowLength: z.number().int().positive().optional(), hop: z.number().int().positive().optional() }).optional(),
  segments: z.array(z.looseObject({ file: z.string(), class: z.string().optional(), label: z.number().int().nonnegative().optional() })).min(1),
});

export type SegmentIndex = z.infer<typeof segmentIndexSchema>;

export async function readSegmentIndex(file: string): Promise<SegmentIndex> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new DatasetError(file, `cannot be read as JSON: ${(error as Error).message}`, { cause: error });
  }
  const parsed = segmentIndexSchema.safeParse(json);
  if (!parsed.success) throw new DatasetError(file, `is not a segment index: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Population z-score with +1e-8 on the std, as training/datasets/cwru_bearing.py (and the decoder) do it. */
export function zscore(window: Float32Array): Float32Array {
  let mean = 0;
  for (const v of window) mean += v;
  mean /= window.length;
  let variance = 0;
  for (const v of window) variance += (v - mean) * (v - mean);
  const std = Math.sqrt(variance / window.length);
  const out = new Float32Array(window.length);
  for (let i = 0; i < window.length; i++) out[i] = ((window[i] as number) - mean) / (std + 1e-8);
  return out;
}

export async function readSignalSegments(
  indexFile: string,
  classes: readonly string[],
  p: SignalPreprocessing,
  hopOverride?: number,
): Promise<TestSet> {
  const index = await readSegmentIndex(indexFile);
  const hop = hopOverride ?? index.evaluation?.hop ?? p.windowLength;
  const length = p.windowLength;
  if (index.evaluation?.windowLength !== undefined && index.evaluation.windowLength !== length) {
    throw new DatasetError(indexFile, `cuts windows of ${index.evaluation.windowLength} samples; the model takes ${length}`);
  }
  const segments = index.segments.map((s) => {
    // The class name decides the label (the model's class order may differ from the index's); the number is a fallback.
    const label = s.class !== undefined ? classes.indexOf(s.class) : (s.label ?? -1);
    if (label < 0 || label >= classes.length) throw new DatasetError(indexFile, `segment ${s.file}: class ${s.class ?? s.label} is not one of the model's classes`);
    return { file: join(dirname(indexFile), s.file), label };
  });
  // Reading every segment up front keeps batching simple; CWRU's test split is ~4 MB of float32.
  const windows: { input: Float32Array; label: number }[] = [];
  for (const segment of segments) {
    let bytes: Buffer;
    try {
      bytes = await readFile(segment.file);
    } catch (error) {
      throw new DatasetError(segment.file, 'cannot be read', { cause: error });
    }
    const samples = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + (bytes.byteLength & ~3)));
    for (let start = 0; start + length <= samples.length; start += hop) {
      const window = samples.subarray(start, start + length);
      windows.push({ input: p.normalization === 'zscore' ? zscore(window) : Float32Array.from(window), label: segment.label });
    }
  }
  return {
    description: `${indexFile} (${segments.length} segments, ${windows.length} windows of ${length}, hop ${hop})`,
    size: windows.length,
    async *batches(batchSize) {
      for (let i = 0; i < windows.length; i += batchSize) {
        const batch = windows.slice(i, i + batchSize);
        yield { inputs: batch.map((w) => w.input), labels: batch.map((w) => w.label) };
      }
    },
  };
}

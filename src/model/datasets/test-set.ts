/** A labelled evaluation split, read lazily in batches of preprocessed model inputs. */
export interface TestSet {
  /** Human-readable origin, e.g. "data/neu-surface/test (image folder, 359 images)". */
  description: string;
  /** Number of samples. */
  size: number;
  /** Batches in a fixed order; labels are indices into the manifest's classes. */
  batches(batchSize: number): AsyncGenerator<{ inputs: Float32Array[]; labels: number[] }>;
}

/** Batches over an in-memory list of (input factory, label). */
export async function* inBatches<T>(
  items: readonly T[],
  batchSize: number,
  load: (item: T) => Promise<{ input: Float32Array; label: number }> | { input: Float32Array; label: number },
): AsyncGenerator<{ inputs: Float32Array[]; labels: number[] }> {
  for (let start = 0; start < items.length; start += batchSize) {
    const loaded = await Promise.all(items.slice(start, start + batchSize).map(load));
    yield { inputs: loaded.map((l) => l.input), labels: loaded.map((l) => l.label) };
  }
}

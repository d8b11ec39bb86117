/**
 * Reuses the large Float32Arrays a frame needs on its way to the model (its preprocessed input, a packed batch).
 * Each is 100s of KiB outside the JS heap; allocating them per frame drove V8's external-memory GC (a full
 * mark-compact every few hundred milliseconds at a few hundred frames/s) and its pauses into the frames' latency.
 *
 * Only arrays this pool handed out are taken back, each once: an array given back twice, or one the pool never made
 * (a test's, a caller's), is ignored, so a mistake costs an allocation, never two owners of one array. A taken array
 * holds stale values: the taker overwrites all of it.
 */
export class Float32Pool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly lent = new WeakSet<Float32Array>();

  /** @param maxFreePerLength arrays of one length kept for reuse; more given back are left to the GC. */
  constructor(private readonly maxFreePerLength = 32) {}

  take(length: number): Float32Array {
    const array = this.free.get(length)?.pop() ?? new Float32Array(length);
    this.lent.add(array);
    return array;
  }

  give(array: Float32Array): void {
    if (!this.lent.delete(array)) return;
    let free = this.free.get(array.length);
    if (free === undefined) {
      free = [];
      this.free.set(array.length, free);
    }
    if (free.length < this.maxFreePerLength) free.push(array);
  }

  /** Arrays waiting for reuse, all lengths together. */
  get freeCount(): number {
    let count = 0;
    for (const arrays of this.free.values()) count += arrays.length;
    return count;
  }
}

/** The process's pool for model inputs: decoders take from it, the model executor gives back once a frame is done. */
export const modelInputPool = new Float32Pool();

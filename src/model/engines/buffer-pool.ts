/**
 * Reuses Float32Arrays by length. A batch of images moves megabytes through each stage (packed inputs, features);
 * allocated afresh per batch they count as external memory, and V8 answers that with a full mark-compact every few
 * dozen milliseconds: pauses of milliseconds against deadlines of ten. Buffers come back with old contents: only
 * for arrays the caller overwrites in full. Bounded: beyond `maxFreeBytes` (or `maxPerLength` of one length) a
 * returned buffer is simply dropped for the GC.
 */
export class Float32BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private freeBytes = 0;

  constructor(
    private readonly maxFreeBytes = 64 * 1024 * 1024,
    private readonly maxPerLength = 4,
  ) {}

  take(length: number): Float32Array {
    const buffer = this.free.get(length)?.pop();
    if (buffer === undefined) return new Float32Array(length);
    this.freeBytes -= buffer.byteLength;
    return buffer;
  }

  /** Hands a buffer back; the caller must not touch it afterwards. Views into a larger buffer are not kept. */
  give(buffer: Float32Array): void {
    if (buffer.byteOffset !== 0 || buffer.byteLength !== buffer.buffer.byteLength) return;
    let list = this.free.get(buffer.length);
    if (list === undefined) {
      list = [];
      this.free.set(buffer.length, list);
    }
    if (list.length >= this.maxPerLength || this.freeBytes + buffer.byteLength > this.maxFreeBytes) return;
    if (list.includes(buffer)) return; // given back twice: keep one
    list.push(buffer);
    this.freeBytes += buffer.byteLength;
  }

  /** Bytes held for reuse. */
  get heldBytes(): number {
    return this.freeBytes;
  }
}

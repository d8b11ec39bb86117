/**
 * Messages received and not yet released to the decoder, served freshest first. Under overload the newest message
 * has the most slack left, so it is the one worth decoding; the oldest ones run out of time while they wait and leave
 * from the other end, shed, without ever being decoded. A double-ended queue: O(1) at both ends.
 */
export class MessageIntake<T> {
  private items: (T | undefined)[] = new Array<T | undefined>(64);
  private head = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  push(item: T): void {
    if (this.count === this.items.length) this.grow();
    this.items[(this.head + this.count) % this.items.length] = item;
    this.count += 1;
  }

  /** The newest message, taken out; undefined when empty. */
  takeNewest(): T | undefined {
    if (this.count === 0) return undefined;
    const index = (this.head + this.count - 1) % this.items.length;
    const item = this.items[index];
    this.items[index] = undefined;
    this.count -= 1;
    return item;
  }

  /** The oldest message, still in place. */
  peekOldest(): T | undefined {
    return this.count === 0 ? undefined : this.items[this.head];
  }

  /** The oldest message, taken out. */
  takeOldest(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.count -= 1;
    return item;
  }

  private grow(): void {
    const next = new Array<T | undefined>(this.items.length * 2);
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length];
    this.items = next;
    this.head = 0;
  }
}

import { describe, expect, it } from 'vitest';
import { Float32BufferPool } from '../../src/model/engines/buffer-pool.ts';

describe('Float32BufferPool', () => {
  it('hands a returned buffer out again for the same length only', () => {
    const pool = new Float32BufferPool();
    const a = pool.take(100);
    pool.give(a);
    expect(pool.heldBytes).toBe(400);
    expect(pool.take(50)).not.toBe(a);
    expect(pool.take(100)).toBe(a);
    expect(pool.heldBytes).toBe(0);
    expect(pool.take(100)).not.toBe(a);
  });

  it.each([
    { name: 'beyond the bytes it may hold', pool: () => new Float32BufferPool(800, 4), gives: [100, 100, 100], held: 800 },
    { name: 'beyond the buffers per length', pool: () => new Float32BufferPool(1 << 20, 2), gives: [100, 100, 100], held: 800 },
  ])('drops buffers $name', ({ pool: make, gives, held }) => {
    const pool = make();
    for (const length of gives) pool.give(new Float32Array(length));
    expect(pool.heldBytes).toBe(held);
  });

  it('keeps neither views into a larger buffer nor a buffer given back twice', () => {
    const pool = new Float32BufferPool();
    const whole = new Float32Array(64);
    pool.give(whole.subarray(0, 32));
    pool.give(whole.subarray(32));
    expect(pool.heldBytes).toBe(0);
    pool.give(whole);
    pool.give(whole);
    expect(pool.heldBytes).toBe(256);
    expect(pool.take(64)).toBe(whole);
    expect(pool.take(64)).not.toBe(whole);
  });
});

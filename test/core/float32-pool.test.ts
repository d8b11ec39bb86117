import { describe, expect, it } from 'vitest';
import { Float32Pool } from '../../src/core/float32-pool.ts';

describe('Float32Pool', () => {
  it('hands a given-back array out again for the same length, and a fresh one for another length', () => {
    const pool = new Float32Pool();
    const first = pool.take(4);
    pool.give(first);
    expect(pool.take(4)).toBe(first);
    expect(pool.take(8)).not.toBe(first);
  });

  it('takes back only arrays it lent, each once: no array ever has two owners', () => {
    const pool = new Float32Pool();
    const foreign = new Float32Array(4);
    pool.give(foreign);
    expect(pool.freeCount).toBe(0);
    const lent = pool.take(4);
    pool.give(lent);
    pool.give(lent);
    expect(pool.freeCount).toBe(1);
    const a = pool.take(4);
    const b = pool.take(4);
    expect(a).toBe(lent);
    expect(b).not.toBe(lent);
  });

  it('keeps at most maxFreePerLength arrays of one length for reuse', () => {
    const pool = new Float32Pool(2);
    const arrays = [pool.take(3), pool.take(3), pool.take(3)];
    for (const array of arrays) pool.give(array);
    expect(pool.freeCount).toBe(2);
  });
});

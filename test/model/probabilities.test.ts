import { describe, expect, it } from 'vitest';
import { argmax, confidence, softmax, weightedVote } from '../../src/model/probabilities.ts';

describe('probabilities', () => {
  it('softmax is stable for large logits and sums to 1', () => {
    const p = softmax([1000, 1001, 999]);
    expect(p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(p[1]).toBeCloseTo(Math.exp(1) / (1 + Math.exp(1) + Math.exp(-1)), 6);
  });

  it('softmax reads one row of a batch', () => {
    const logits = Float32Array.from([0, 0, 5, 0, 0, 0]);
    expect(Array.from(softmax(logits, 3, 3))).toEqual([1 / 3, 1 / 3, 1 / 3].map((x) => Math.fround(x)));
  });

  it('argmax takes the first of equal maxima; confidence is the max probability', () => {
    expect(argmax([0.1, 0.4, 0.4, 0.1])).toBe(1);
    expect(confidence([0.2, 0.7, 0.1])).toBe(0.7);
  });

  it('weighted vote renormalises by the weights of the exits reached', () => {
    const a = Float32Array.from([1, 0]);
    const b = Float32Array.from([0, 1]);
    expect(Array.from(weightedVote([a, b], [0.25, 0.75, 1]))).toEqual([0.25, 0.75]);
    expect(Array.from(weightedVote([a], [0.25, 0.75]))).toEqual([1, 0]);
  });
});

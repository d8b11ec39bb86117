import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../helpers/seeded-random.ts';

/** The tiny fixture models written by test/fixtures/tiny-model/make.py. */
export const FIXTURE_DIR = fileURLToPath(new URL('../fixtures/tiny-model/', import.meta.url));
export const IMAGE_MODEL = `${FIXTURE_DIR}image`;
export const SIGNAL_MODEL = `${FIXTURE_DIR}signal`;
export const UNSUPPORTED_OP_MODEL = `${FIXTURE_DIR}unsupported-op`;

export interface Reference {
  /** Seeded inputs, one flat row per frame. */
  inputs: number[][];
  /** PyTorch (float64) logits per exit, per frame. */
  exitLogits: number[][][];
}

export function readReference(modelDir: string): Reference {
  return JSON.parse(readFileSync(`${modelDir}/reference.json`, 'utf8')) as Reference;
}

/** Deterministic pseudo-random inputs (mulberry32 + Box-Muller), so tests need no seed library. */
export function randomInputs(count: number, size: number, seed = 1): Float32Array[] {
  const uniform = seededRandom(seed);
  return Array.from({ length: count }, () => {
    const row = new Float32Array(size);
    for (let i = 0; i < size; i++) row[i] = Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
    return row;
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs((a[i] as number) - (b[i] as number)));
  return max;
}

/**
 * Turning exit logits into answers: row-wise softmax, argmax, confidence (max softmax) and the EdgeKE weighted vote
 * of several exits' probabilities. Rows are laid out contiguously: row r is values[r*classes .. (r+1)*classes).
 */

/** Numerically stable softmax of one row (subtracts the row maximum before exp). */
export function softmax(logits: ArrayLike<number>, offset = 0, classes = logits.length - offset): Float32Array {
  const out = new Float32Array(classes);
  let max = -Infinity;
  for (let c = 0; c < classes; c++) max = Math.max(max, logits[offset + c] as number);
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    const e = Math.exp((logits[offset + c] as number) - max);
    out[c] = e;
    sum += e;
  }
  for (let c = 0; c < classes; c++) out[c] = (out[c] as number) / sum;
  return out;
}

/** Index of the largest value (the first one on ties, like numpy.argmax and torch.argmax). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

/** Max softmax probability: the confidence the calibrated thresholds in the manifest refer to. */
export function confidence(probabilities: ArrayLike<number>): number {
  return probabilities[argmax(probabilities)] as number;
}

/**
 * EdgeKE weighted vote: sum over exits of weight[k] · probabilities[k], renormalised by the weights used, so that a
 * frame that stopped early votes with the exits it reached. `probabilitiesPerExit[k]` belongs to exit k+1.
 */
export function weightedVote(probabilitiesPerExit: readonly Float32Array[], weights: readonly number[]): Float32Array {
  const first = probabilitiesPerExit[0];
  if (first === undefined) throw new RangeError('weightedVote needs at least one exit');
  const out = new Float32Array(first.length);
  let total = 0;
  probabilitiesPerExit.forEach((probabilities, k) => {
    const w = weights[k] ?? 0;
    total += w;
    for (let c = 0; c < out.length; c++) out[c] = (out[c] as number) + w * (probabilities[c] as number);
  });
  if (total > 0) for (let c = 0; c < out.length; c++) out[c] = (out[c] as number) / total;
  return out;
}

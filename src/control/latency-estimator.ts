import type { StageLatencyProfileEntry } from '../model/profile-types.ts';
import { ControlError } from './control-error.ts';

/**
 * Which quantile of a stage's latency distribution a prediction should cover, in [0.5, 1): 0.5 = median, 0.95 = p95
 * (the flow file's `policy.riskQuantile`).
 */
export type RiskQuantile = number;

/** What the policies and the planner need from a latency model; the estimator below is the one implementation. */
export interface LatencyModel {
  /** Number of stages the model has (stages are 1-based). */
  readonly stageCount: number;
  /** Predicted time of one stage at a batch size, at the risk quantile. */
  stageMs(stage: number, batchSize: number, risk: RiskQuantile): number;
  /** Predicted time of stages fromStage..toStage (inclusive) at one batch size; 0 when fromStage > toStage. */
  stagesMs(fromStage: number, toStage: number, batchSize: number, risk: RiskQuantile): number;
}

/** One executed stage as the runtime measured it. */
export interface StageObservation {
  stage: number;
  batchSize: number;
  ms: number;
}

export interface LatencyEstimatorOptions {
  /**
   * EWMA weight of a new observation. 0.2 forgets 90% of the past in ~10 observations: a machine that turns slow
   * is noticed within a few batches (well under a second at edge frame rates), while single spikes move it little.
   */
  alpha?: number;
  /**
   * A single observation counts at most this many times (or this fraction of) the current estimate, so one GC pause
   * cannot blind it; a real step change still gets through in a few observations.
   */
  maxJumpRatio?: number;
  /**
   * Huber bound, in learnt standard deviations: an observation further than this from the estimate counts as if it
   * were this far, in both the scale and the spread. A stall of 10x (a GC pause inside a stage of 0.1 ms) then moves
   * the median by ~3% instead of ~30%, and the p95 by ~20% instead of ~2.6x; a planner reading those would shed
   * frames that make it. A real step change still gets through: each bounded observation widens the spread by half,
   * so a 2x slowdown is covered by the p95 within four observations.
   */
  outlierSd?: number;
}

/** Per-stage online state: the device's current speed relative to the profile, and how much that ratio scatters. */
export interface StageEstimate {
  stage: number;
  /** Typical observed / profiled median (1 = as profiled, 2 = twice as slow): exp of the EWMA of its logarithm. */
  scale: number;
  /** Standard deviation of ln(observed / profiled), from its EWMA mean absolute deviation: 0.1 ≈ ±10%. */
  spread: number;
  observations: number;
}

const Z_P95 = 1.6448536269514722;
/** Smallest Huber bound on ln(observed / estimate): ±5%. */
const MIN_OUTLIER_LOG = 0.05;
/** E|X − μ| = σ·√(2/π) for a normal X. */
const MAD_TO_SD = Math.sqrt(Math.PI / 2);

interface ProfilePoint {
  batchSize: number;
  medianMs: number;
}

interface StageState {
  points: ProfilePoint[];
  /** EWMA of ln(observed / profiled median). */
  logScale: number;
  /** Per profiled batch size: EWMA of ln(observed / profiled median) from observations at and around that size. */
  pointLogScale: number[];
  /** Per profiled batch size: how much recent evidence pointLogScale has (observations, decaying). */
  pointEvidence: number[];
  /**
   * EWMA of |deviation| of that logarithm (× √(π/2) it estimates the standard deviation): robust where squared
   * deviations would let a few stalls on a busy machine inflate the tail for many observations.
   */
  meanAbsDeviation: number;
  observations: number;
}

/**
 * Latency model seeded from a measured profile and updated from every executed stage.
 *
 * Each stage keeps the profiled median curve over batch sizes (interpolated in between) and learns a multiplicative
 * factor on it: a busier or slower machine slows every batch size of a stage alike, so one observation at batch 4
 * also corrects the prediction at batch 1. Each profiled size also learns its own factor from the observations at
 * and around it, and trusts it as its evidence grows (shrinkage to the stage's factor): a profile measured while
 * something else loaded the machine can be wrong in shape, not only in level, and one factor can only fit the sizes
 * it saw last. The factor is learned in the log domain (latencies are positive and
 * skewed; a stall moves a geometric mean far less than an arithmetic one), and its spread gives the high quantiles
 * (exp(mean + z·sd)), seeded from the profile's p95 / median.
 */
export class LatencyEstimator implements LatencyModel {
  readonly stageCount: number;
  private readonly stages: StageState[];
  private readonly alpha: number;
  private readonly maxJumpRatio: number;
  private readonly outlierSd: number;
  private readonly scratch: Bracket = { lo: 0, hi: 0, hiWeight: 0 };

  constructor(profile: readonly StageLatencyProfileEntry[], options: LatencyEstimatorOptions = {}) {
    this.alpha = options.alpha ?? 0.2;
    this.maxJumpRatio = options.maxJumpRatio ?? 4;
    this.outlierSd = options.outlierSd ?? 3;
    if (!(this.alpha > 0 && this.alpha <= 1)) {
      throw new ControlError('EDGEKE_CONTROL_OPTIONS', `latency estimator alpha must be in (0, 1], got ${this.alpha}`);
    }
    this.stages = seedStages(profile, this.predictiveInflation());
    this.stageCount = this.stages.length;
  }

  observe(observation: StageObservation): void {
    const { stage, batchSize, ms } = observation;
    // A failed or bogus timing must not poison the model; the runtime counts those as errors elsewhere.
    if (!Number.isFinite(ms) || ms < 0 || !(batchSize >= 1)) return;
    const state = this.state(stage);
    // The floor keeps a spread learnt on a very steady machine from rejecting ordinary jitter.
    const maxJump = Math.min(Math.log(this.maxJumpRatio), Math.max(MIN_OUTLIER_LOG, this.outlierSd * this.sdOf(state)));
    const bounded = (x: number): number => Math.min(maxJump, Math.max(-maxJump, x));
    const at = bracket(state.points, batchSize);
    const logRatio = Math.log(Math.max(ms / baselineMs(state.points, batchSize, at), 1e-6));
    const error = bounded(logRatio - predictedLogScale(state, at));
    state.meanAbsDeviation += this.alpha * (Math.abs(error) - state.meanAbsDeviation);
    state.logScale += this.alpha * bounded(logRatio - state.logScale);
    // The profiled sizes around this one learn it too, in proportion to how close it is to each.
    const { lo, hi, hiWeight } = at;
    for (let i = 0; i < state.pointEvidence.length; i++) state.pointEvidence[i] = (state.pointEvidence[i] ?? 0) * (1 - EVIDENCE_DECAY);
    for (const [point, weight] of [[lo, 1 - hiWeight], [hi, lo === hi ? 0 : hiWeight]] as const) {
      if (!(weight > 0)) continue;
      const own = state.pointLogScale[point] ?? 0;
      state.pointLogScale[point] = own + this.alpha * weight * bounded(logRatio - own);
      state.pointEvidence[point] = (state.pointEvidence[point] ?? 0) + weight;
    }
    state.observations += 1;
  }

  stageMs(stage: number, batchSize: number, risk: RiskQuantile): number {
    const state = this.state(stage);
    // A prediction interval, not a confidence interval: the EWMA mean is itself uncertain (its variance is
    // alpha/(2-alpha) of the spread's), so the next observation scatters a little wider than the spread alone.
    const predictiveSd = this.sdOf(state) * Math.sqrt(this.predictiveInflation());
    const size = Math.max(1, batchSize);
    const at = bracket(state.points, size, this.scratch);
    const factor = Math.exp(predictedLogScale(state, at) + normalQuantile(risk) * predictiveSd);
    return baselineMs(state.points, size, at) * factor;
  }

  stagesMs(fromStage: number, toStage: number, batchSize: number, risk: RiskQuantile): number {
    // Summing per-stage quantiles over-covers the quantile of the sum: slowdowns hit all stages together, so that
    // is close to the truth and errs on the safe side.
    let total = 0;
    for (let stage = Math.max(1, fromStage); stage <= toStage; stage++) total += this.stageMs(stage, batchSize, risk);
    return total;
  }

  /** The learned state, for telemetry and tests. */
  estimates(): StageEstimate[] {
    return this.stages.map((state, i) => ({
      stage: i + 1,
      scale: Math.exp(state.logScale),
      spread: this.sdOf(state),
      observations: state.observations,
    }));
  }

  private sdOf(state: StageState): number {
    return state.meanAbsDeviation * MAD_TO_SD;
  }

  private predictiveInflation(): number {
    return 1 + this.alpha / (2 - this.alpha);
  }

  private state(stage: number): StageState {
    const state = this.stages[stage - 1];
    if (state === undefined) {
      throw new ControlError('EDGEKE_CONTROL_STAGE', `stage ${stage} is not in the latency profile (1..${this.stageCount})`);
    }
    return state;
  }
}

/** `inflation` is undone on the seed so that, before any observation, predictions reproduce the profiled p95. */
function seedStages(profile: readonly StageLatencyProfileEntry[], inflation: number): StageState[] {
  const byStage = new Map<number, StageLatencyProfileEntry[]>();
  for (const entry of profile) {
    const ok =
      Number.isInteger(entry.stage) && entry.stage >= 1 && Number.isInteger(entry.batchSize) && entry.batchSize >= 1 &&
      entry.medianMs > 0 && entry.p95Ms >= entry.medianMs && Number.isFinite(entry.p95Ms);
    if (!ok) {
      throw new ControlError('EDGEKE_CONTROL_PROFILE', `bad latency profile entry ${JSON.stringify(entry)}`);
    }
    const list = byStage.get(entry.stage) ?? [];
    list.push(entry);
    byStage.set(entry.stage, list);
  }
  const stageCount = Math.max(0, ...byStage.keys());
  if (stageCount === 0) throw new ControlError('EDGEKE_CONTROL_PROFILE', 'latency profile is empty');
  const stages: StageState[] = [];
  for (let stage = 1; stage <= stageCount; stage++) {
    const entries = byStage.get(stage);
    if (entries === undefined) {
      throw new ControlError('EDGEKE_CONTROL_PROFILE', `latency profile has no entry for stage ${stage}`);
    }
    const bySize = new Map<number, StageLatencyProfileEntry>();
    for (const entry of entries) {
      // Two measurements of one cell: keep the one with more samples.
      const previous = bySize.get(entry.batchSize);
      if (previous === undefined || entry.samples > previous.samples) bySize.set(entry.batchSize, entry);
    }
    const cells = [...bySize.values()].sort((a, b) => a.batchSize - b.batchSize);
    // Log-domain deviation implied by the profile's tail, averaged over cells by sample count.
    let weight = 0;
    let weightedSd = 0;
    for (const cell of cells) {
      const w = Math.max(1, cell.samples);
      weight += w;
      weightedSd += (w * Math.log(cell.p95Ms / cell.medianMs)) / Z_P95;
    }
    const sd = weightedSd / weight;
    stages.push({
      points: cells.map((c) => ({ batchSize: c.batchSize, medianMs: c.medianMs })),
      logScale: 0,
      pointLogScale: cells.map(() => 0),
      pointEvidence: cells.map(() => 0),
      meanAbsDeviation: sd / Math.sqrt(inflation) / MAD_TO_SD,
      observations: 0,
    });
  }
  return stages;
}

/**
 * A profiled size's own factor counts for evidence / (evidence + EVIDENCE_PRIOR) of its prediction, the stage's for
 * the rest: two observations at a size make it two thirds its own. Evidence decays by EVIDENCE_DECAY per observation
 * of the stage (a size not run for ~50 batches falls back to the stage's factor, which follows the machine).
 */
const EVIDENCE_PRIOR = 1;
const EVIDENCE_DECAY = 0.05;

// The planner prices batches many times per plan, for every frame: predictions allocate nothing (no closures, the
// bracket in a scratch object), which an allocation profile at 2,700 fr/s showed as a tenth of all allocated bytes.
function predictedLogScale(state: StageState, at: Bracket): number {
  const { lo, hi, hiWeight } = at;
  return lo === hi ? pointLogScale(state, lo) : (1 - hiWeight) * pointLogScale(state, lo) + hiWeight * pointLogScale(state, hi);
}

function pointLogScale(state: StageState, point: number): number {
  const evidence = state.pointEvidence[point] ?? 0;
  const trust = evidence / (evidence + EVIDENCE_PRIOR);
  return state.logScale + trust * ((state.pointLogScale[point] ?? 0) - state.logScale);
}

/** The profiled sizes around a batch size (indices into points) and the upper one's interpolation weight. */
interface Bracket {
  lo: number;
  hi: number;
  hiWeight: number;
}

/** Fills `into` (returned): callers read it before the next bracket call. */
function bracket(points: readonly ProfilePoint[], batchSize: number, into: Bracket = { lo: 0, hi: 0, hiWeight: 0 }): Bracket {
  const last = points.length - 1;
  let lo = last;
  let hi = last;
  let hiWeight = 0;
  if (last <= 0 || batchSize <= (points[0]?.batchSize ?? 1)) {
    lo = 0;
    hi = 0;
  } else if (batchSize < (points[last]?.batchSize ?? 1)) {
    hi = 1;
    while (hi < last && (points[hi]?.batchSize ?? Infinity) < batchSize) hi++;
    lo = hi - 1;
    const lower = points[lo]?.batchSize ?? 1;
    const upper = points[hi]?.batchSize ?? lower + 1;
    hiWeight = (batchSize - lower) / (upper - lower);
  }
  into.lo = lo;
  into.hi = hi;
  into.hiWeight = hiWeight;
  return into;
}

/**
 * Profiled median at any batch size: linear between measured sizes; below the smallest, the smallest's time (a batch
 * never costs less than its fixed part); above the largest, extended with the per-frame slope of the last two
 * (or proportionally when only one size was measured).
 */
function baselineMs(points: readonly ProfilePoint[], batchSize: number, at: Bracket = bracket(points, batchSize)): number {
  const first = points[0];
  const last = points[points.length - 1];
  if (first === undefined || last === undefined) return 0;
  if (batchSize <= first.batchSize) return first.medianMs;
  if (batchSize >= last.batchSize) {
    const beforeLast = points[points.length - 2];
    if (beforeLast === undefined) return (last.medianMs * batchSize) / last.batchSize;
    const slope = Math.max(0, (last.medianMs - beforeLast.medianMs) / (last.batchSize - beforeLast.batchSize));
    return last.medianMs + slope * (batchSize - last.batchSize);
  }
  const { lo, hi, hiWeight } = at;
  const low = points[lo]?.medianMs ?? last.medianMs;
  return low + hiWeight * ((points[hi]?.medianMs ?? low) - low);
}

// Acklam's coefficients, once: the planner asks for quantiles many times per plan (four arrays a call showed in its
// allocation profile).
const ACKLAM_A = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
const ACKLAM_B = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
const ACKLAM_C = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const ACKLAM_D = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];

/**
 * Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9), clamped to [0.5, 0.9999]:
 * the controller never plans below the median.
 */
export function normalQuantile(probability: number): number {
  const p = Math.min(0.9999, Math.max(0.5, Number.isFinite(probability) ? probability : 0.5));
  if (p === 0.5) return 0;
  const [a, b, c, d] = [ACKLAM_A, ACKLAM_B, ACKLAM_C, ACKLAM_D];
  const at = (xs: readonly number[], i: number): number => xs[i] ?? 0;
  const pHigh = 1 - 0.02425;
  if (p <= pHigh) {
    const q = p - 0.5;
    const r = q * q;
    return (
      ((((((at(a, 0) * r + at(a, 1)) * r + at(a, 2)) * r + at(a, 3)) * r + at(a, 4)) * r + at(a, 5)) * q) /
      (((((at(b, 0) * r + at(b, 1)) * r + at(b, 2)) * r + at(b, 3)) * r + at(b, 4)) * r + 1)
    );
  }
  const q = Math.sqrt(-2 * Math.log(1 - p));
  return -(
    (((((at(c, 0) * q + at(c, 1)) * q + at(c, 2)) * q + at(c, 3)) * q + at(c, 4)) * q + at(c, 5)) /
    ((((at(d, 0) * q + at(d, 1)) * q + at(d, 2)) * q + at(d, 3)) * q + 1)
  );
}

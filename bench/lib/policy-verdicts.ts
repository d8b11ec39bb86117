/**
 * The policies bench's verdicts: per model, deadline and load, whether ours is on the Pareto front of deadline
 * attainment and accuracy over offered frames (accuracy_offered: a frame refused, shed or never answered counts as
 * wrong) against the baselines, as the issue defines it (no baseline better on both); which baselines dominate it in
 * the stricter, textbook sense (at least as good on both and better on one); and at 2x whether it meets the target:
 * attainment >= 99% with accuracy (of answered frames) within 3 points of the final exit's on the same stream.
 */
import type { PolicyName, ReplayResult } from './policy-replay.ts';

export interface Row extends ReplayResult {
  model: string;
  deadline_ms: number;
  /** Which deadline this is: the bench's tight one, or a shipped flow's (flows/<file>). */
  deadline_from: string;
  /** Offered load as a multiple of the final exit's sustainable on-time rate with shedding. */
  load: number;
}

export interface Verdict {
  model: string;
  deadline_ms: number;
  deadline_from: string;
  load: number;
  on_pareto_front: boolean;
  better_on_both: PolicyName[];
  weakly_dominated_by: PolicyName[];
  meets_2x_target: boolean | null;
}

export function judge(rows: readonly Row[], finalPolicy: (model: string) => PolicyName): Verdict[] {
  const verdicts: Verdict[] = [];
  for (const ours of rows.filter((r) => r.policy === 'ours')) {
    const peers = rows.filter(
      (r) => r.model === ours.model && r.deadline_ms === ours.deadline_ms && r.load === ours.load && r.policy !== 'ours' && r.policy !== 'oracle',
    );
    const betterOnBoth = peers.filter((r) => r.accuracy_offered > ours.accuracy_offered && r.attainment > ours.attainment).map((r) => r.policy);
    const weaklyDominatedBy = peers
      .filter(
        (r) =>
          r.accuracy_offered >= ours.accuracy_offered &&
          r.attainment >= ours.attainment &&
          (r.accuracy_offered > ours.accuracy_offered || r.attainment > ours.attainment),
      )
      .map((r) => r.policy);
    const final = peers.find((r) => r.policy === finalPolicy(ours.model));
    verdicts.push({
      model: ours.model,
      deadline_ms: ours.deadline_ms,
      deadline_from: ours.deadline_from,
      load: ours.load,
      on_pareto_front: betterOnBoth.length === 0,
      better_on_both: betterOnBoth,
      weakly_dominated_by: weaklyDominatedBy,
      meets_2x_target: ours.load === 2 && final !== undefined ? ours.attainment >= 0.99 && final.accuracy - ours.accuracy <= 0.03 : null,
    });
  }
  return verdicts;
}

/** One line per verdict, for the console. */
export function describeVerdict(v: Verdict): string {
  const tied = v.weakly_dominated_by.filter((p) => !v.better_on_both.includes(p));
  const front = v.on_pareto_front
    ? `on the Pareto front${tied.length > 0 ? ` (weakly dominated: ${tied.join(', ')} as good on one, better on the other)` : ''}`
    : `NOT on the Pareto front: ${v.better_on_both.join(', ')} better on both`;
  const target = v.load === 2 ? `; 2x target (attainment >= 99%, accuracy within 3 points of the final exit): ${v.meets_2x_target ? 'met' : 'NOT met'}` : '';
  return `  ${v.model} ${v.deadline_ms.toFixed(1)} ms (${v.deadline_from}) ${v.load.toFixed(1)}x: ${front}${target}`;
}

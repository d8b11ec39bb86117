/** The EdgeKE paper's two tables (unloaded, batch 1, profiled medians), from every test frame's per-exit answers. */
import { passesConfidence, type ExitPolicy } from '../../src/control/exit-policy.ts';
import type { LatencyEstimator } from '../../src/control/latency-estimator.ts';
import type { ModelView } from '../../src/control/model-view.ts';
import type { Manifest } from '../../src/model/manifest.ts';
import { CONFIDENCE_LEVEL, type TruthFrame } from './policy-replay.ts';

/** The EdgeKE paper's two tables, unloaded (batch 1, profiled medians), from the per-exit answers. */
export function edgekeTables(modelName: string, view: ModelView, estimator: LatencyEstimator, frames: TruthFrame[], manifest: Manifest) {
  const exits = view.exits;
  const last = exits.length;
  const cost = exits.map((e) => estimator.stagesMs(1, e.stage, 1, 0.5));
  const finalCost = cost[last - 1] ?? NaN;
  const accuracyAt = (k: number): number => frames.filter((f) => f.exitClass[k - 1] === f.label).length / Math.max(1, frames.length);
  const finalAccuracy = accuracyAt(last);
  const beats = manifest.vote?.beatsLastExit === true;

  /** Our per-frame choice within a budget: first confident exit up to the deepest that fits, vote at the end. */
  const oursWithin = (capExit: number, level: '0.90' | '0.95' | '0.99') => {
    let correct = 0;
    let spent = 0;
    const policy = { confidenceStop: level } as ExitPolicy;
    for (const f of frames) {
      let stop = capExit;
      for (let k = 1; k < capExit; k++) {
        if (passesConfidence(view, policy, k, f.exitConfidence[k - 1] ?? 0)) {
          stop = k;
          break;
        }
      }
      const confidentAtStop = passesConfidence(view, policy, stop, f.exitConfidence[stop - 1] ?? 0);
      const answer = stop === last && !confidentAtStop && beats && f.voteClass !== undefined ? f.voteClass : f.exitClass[stop - 1];
      if (answer === f.label) correct++;
      spent += cost[stop - 1] ?? 0;
    }
    return { accuracy: correct / Math.max(1, frames.length), meanMs: spent / Math.max(1, frames.length) };
  };

  const accuracyLossAtBudget = [0.25, 0.5, 0.75, 1].map((fraction) => {
    const budgetMs = fraction * finalCost;
    let staticExit = 0;
    cost.forEach((c, k) => {
      if (c <= budgetMs) staticExit = k + 1;
    });
    const ours = staticExit > 0 ? oursWithin(staticExit, CONFIDENCE_LEVEL) : undefined;
    return {
      model: modelName,
      budget_ms: budgetMs,
      budget_fraction_of_final: fraction,
      static_exit: staticExit || null,
      static_accuracy: staticExit > 0 ? accuracyAt(staticExit) : null,
      static_loss_vs_final: staticExit > 0 ? finalAccuracy - accuracyAt(staticExit) : null,
      ours_accuracy: ours?.accuracy ?? null,
      ours_loss_vs_final: ours === undefined ? null : finalAccuracy - ours.accuracy,
      ours_mean_ms: ours?.meanMs ?? null,
    };
  });

  const lastValidation = exits[last - 1]?.validationAccuracy ?? 1;
  const speedupAtAccuracy = [
    ...[0, 0.01, 0.02, 0.05].map((drop) => {
      const requirement = lastValidation - drop;
      const chosen = exits.find((e) => e.validationAccuracy >= requirement)?.index ?? last;
      return {
        model: modelName,
        method: 'static exit (validation accuracy)',
        requirement: `validation >= ${requirement.toFixed(4)} (final − ${(drop * 100).toFixed(0)} pt)`,
        exit: chosen,
        accuracy: accuracyAt(chosen),
        speedup_vs_final: finalCost / (cost[chosen - 1] ?? finalCost),
      };
    }),
    ...(['0.99', '0.95', '0.90'] as const).map((level) => {
      const result = oursWithin(last, level);
      return {
        model: modelName,
        method: `confidence early exit at ${level}${beats ? ' + vote' : ''}`,
        requirement: `calibrated accuracy ${level}`,
        exit: null,
        accuracy: result.accuracy,
        speedup_vs_final: finalCost / result.meanMs,
      };
    }),
  ];
  return { finalAccuracy, exitCostMs: cost, exitAccuracy: exits.map((e) => accuracyAt(e.index)), accuracyLossAtBudget, speedupAtAccuracy };
}

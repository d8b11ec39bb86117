import type { ModelView } from '../control/index.ts';
import type { Manifest } from '../model/manifest.ts';

/** What the controller reads of a manifest: exits (stage, validation accuracy, thresholds), the vote, stop costs. */
export function modelViewOf(manifest: Manifest): ModelView {
  return {
    exits: manifest.exits.map((exit) => ({
      index: exit.index,
      stage: exit.stage,
      validationAccuracy: exit.validationAccuracy,
      thresholds: exit.thresholds,
    })),
    vote:
      manifest.vote === undefined
        ? null
        : {
            beatsLastExit: manifest.vote.beatsLastExit ?? false,
            validationAccuracy: manifest.vote.validationAccuracy ?? 0,
            ...(manifest.vote.byLevel === undefined ? {} : { byLevel: manifest.vote.byLevel }),
          },
    ...(manifest.stopLoss === undefined ? {} : { stopLoss: manifest.stopLoss }),
  };
}

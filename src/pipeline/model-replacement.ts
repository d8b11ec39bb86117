import type { ModelBinding } from './model-binding.ts';
import { openSharedModel, swapIncompatibility, type SharedModel, type SharedModelOptions } from './shared-model.ts';

/**
 * Loads, validates and profiles the model now in `old`'s folder beside it (openSharedModel), and checks that it can
 * take over the frames decoded for `old` (same input and classes). Throws why not; `old` is untouched either way.
 */
export async function openReplacement(old: SharedModel, options: SharedModelOptions): Promise<SharedModel> {
  const next = await openSharedModel(old.config, options);
  const incompatible = swapIncompatibility(old, next);
  if (incompatible !== undefined) {
    await next.loaded.close();
    throw incompatible;
  }
  return next;
}

/**
 * Moves every flow bound to `old` onto `next`, between batches: their next frames go to `next`, whose first batch
 * waits until `old` has finished every frame it had (in-flight frames finish on the old model, and the two never run
 * at once). Resolves once `old` has finished; it is then the caller's to close.
 */
export async function switchBetweenBatches(old: SharedModel, next: SharedModel, flows: readonly { name: string; binding: ModelBinding }[]): Promise<void> {
  const oldDrained = old.executor.drained();
  next.executor.holdUntil(oldDrained);
  for (const flow of flows) {
    next.users.add(flow.name);
    void flow.binding.switchTo(next);
  }
  old.users.clear();
  await oldDrained;
}

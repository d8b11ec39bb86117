import { mergeMap, of, type ObservableInput, type OperatorFunction } from 'rxjs';
import type { Frame } from '../../core/frame.ts';
import type { FlowItem, SettledItem } from './flow-item.ts';

/**
 * Hands each frame to the model (the shared executor plans exits and batches) and passes on its settled result;
 * items settled earlier pass straight through.
 */
export function inferFrames(infer: (frame: Frame) => ObservableInput<SettledItem>): OperatorFunction<FlowItem, SettledItem> {
  return mergeMap((item) => {
    if (item.kind === 'settled') return of(item);
    if (item.kind === 'frame') return infer(item.frame);
    throw new Error('inferFrames: a message reached the model undecoded');
  });
}

import { from, map, mergeMap, of, type ObservableInput, type OperatorFunction } from 'rxjs';
import type { RawMessage } from '../../core/frame.ts';
import type { DecodeResult } from '../../decode/decoder.ts';
import type { FlowItem, FrameItem, SettledItem } from './flow-item.ts';

/**
 * Decodes each message into a frame; a rejected payload is settled with its decoder's reason. How many decodes run at
 * once is up to the intake upstream, which releases messages only when there is room (freshestFirst): this operator
 * never queues.
 */
export function decodeMessages(
  decode: (message: RawMessage) => ObservableInput<DecodeResult>,
  reject: (message: RawMessage, result: Extract<DecodeResult, { ok: false }>) => SettledItem,
): OperatorFunction<FlowItem, FrameItem | SettledItem> {
  return mergeMap((item) => {
    if (item.kind !== 'message') return of(item as FrameItem | SettledItem);
    const { message } = item;
    return from(decode(message)).pipe(
      map((result): FrameItem | SettledItem => (result.ok ? { kind: 'frame', frame: result.frame } : reject(message, result))),
    );
  });
}

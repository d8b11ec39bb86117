import { map, type OperatorFunction } from 'rxjs';
import type { RawMessage } from '../../core/frame.ts';
import type { MessageItem, SettledItem } from './flow-item.ts';

/**
 * Decides at arrival, before anything is spent on it, whether a message can still make its deadline: `hopeless`
 * returns the shed reason for one that cannot, and `shed` settles it (its result goes straight to the sinks). The
 * check must be cheap: it runs for every offered frame, at every load.
 */
export function shedHopelessOnArrival(
  hopeless: (message: RawMessage) => string | undefined,
  shed: (message: RawMessage, reason: string) => SettledItem,
): OperatorFunction<RawMessage, MessageItem | SettledItem> {
  return map((message) => {
    const reason = hopeless(message);
    return reason === undefined ? { kind: 'message', message } : shed(message, reason);
  });
}

import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import type { StoredItem } from './flow-item.ts';

/**
 * Acknowledges a message to its transport only once its result is stored (for MQTT QoS 1, the PUBACK). One that is
 * not stored stays unacknowledged, so the broker redelivers it rather than a result going missing; `onUnstored`
 * reports it.
 */
export function acknowledgeStored(onUnstored: (item: StoredItem) => void): MonoTypeOperatorFunction<StoredItem> {
  return tap((item) => {
    if (item.stored) item.ack();
    else onUnstored(item);
  });
}

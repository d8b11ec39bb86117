import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { RawMessage } from '../../core/frame.ts';
import { MessageIntake } from '../message-intake.ts';
import type { MessageItem, SettledItem } from './flow-item.ts';

export interface FreshestFirstOptions {
  /** Where waiting messages are held (the flow reads its size as work waiting upstream of the model). */
  intake: MessageIntake<RawMessage>;
  /** Whether downstream can take one more message now: a decoder is free, the model's queue is short, sinks drain. */
  hasRoom: () => boolean;
  /** Emits whenever room may have appeared (a decode ended, the model took frames, a sink drained). */
  room$: Observable<unknown>;
  /** Why a waiting message can no longer make its deadline even if it were released now; undefined while it can. */
  expired: (message: RawMessage) => string | undefined;
  shed: (message: RawMessage, reason: string) => SettledItem;
  /** Most messages held; a message beyond it pushes the oldest out, shed as 'queue-full' (a memory bound). */
  maxWaiting: number;
  /** How often waiting messages are checked for expiry while nothing else happens. */
  sweepEveryMs: number;
  scheduler?: SchedulerLike;
}

/**
 * The intake of a flow: holds received messages until downstream has room, releases the freshest first, and sheds
 * the ones that run out of time while they wait (oldest first), so no message is decoded only to be shed and the
 * intake is bounded by time (the deadline), not by a count tuned for one rate. Settled items pass through at once.
 * Completes when its source has completed and nothing waits.
 */
export function freshestFirst(options: FreshestFirstOptions): OperatorFunction<MessageItem | SettledItem, MessageItem | SettledItem> {
  const { intake, scheduler = asyncScheduler } = options;
  return (source) =>
    new Observable<MessageItem | SettledItem>((subscriber) => {
      let sourceDone = false;
      let sweep: Subscription | undefined;

      const release = (): void => {
        // Expired messages leave from the old end first: the cheap way out, and it keeps the bound by time.
        for (let oldest = intake.peekOldest(); oldest !== undefined; oldest = intake.peekOldest()) {
          const reason = options.expired(oldest);
          if (reason === undefined) break;
          intake.takeOldest();
          subscriber.next(options.shed(oldest, reason));
        }
        while (intake.size > 0 && options.hasRoom()) {
          const message = intake.takeNewest() as RawMessage;
          const reason = options.expired(message);
          subscriber.next(reason === undefined ? { kind: 'message', message } : options.shed(message, reason));
        }
        if (intake.size > 0) {
          sweep ??= scheduler.schedule(() => {
            sweep = undefined;
            release();
          }, options.sweepEveryMs);
        } else if (sourceDone) {
          subscriber.complete();
        }
      };

      const room = options.room$.subscribe(() => release());
      const input = source.subscribe({
        next: (item) => {
          if (item.kind === 'settled') {
            subscriber.next(item);
            return;
          }
          intake.push(item.message);
          if (intake.size > options.maxWaiting) {
            const oldest = intake.takeOldest() as RawMessage;
            subscriber.next(options.shed(oldest, 'queue-full'));
          }
          release();
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          release();
        },
      });
      return () => {
        input.unsubscribe();
        room.unsubscribe();
        sweep?.unsubscribe();
      };
    });
}

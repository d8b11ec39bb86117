import { from, Observable, type ObservableInput, type OperatorFunction } from 'rxjs';
import type { FrameResult } from '../../core/frame.ts';
import type { SettledItem, StoredItem } from './flow-item.ts';

/**
 * Writes each result to the sinks (`write` settles once every sink holds it) and says whether it is stored. A sink
 * that refuses a result never ends the stream: the item comes out with `stored: false` and its error. Items come out
 * as their writes settle (as mergeMap would), and the stream completes once the source has and every write settled.
 *
 * Written by hand rather than with mergeMap: a promise per frame is followed with `then`, not an inner subscription
 * that the outer one adds to and removes from its list (at 1,000 frames/s with dozens of writes awaiting their group
 * commit, that bookkeeping was a visible share of a shed frame's CPU).
 */
export function storeResults(write: (result: FrameResult) => ObservableInput<unknown>): OperatorFunction<SettledItem, StoredItem> {
  return (source) =>
    new Observable<StoredItem>((subscriber) => {
      let pending = 0;
      let sourceDone = false;
      const settled = (item: StoredItem | undefined): void => {
        if (item !== undefined) subscriber.next(item);
        pending -= 1;
        if (sourceDone && pending === 0) subscriber.complete();
      };
      const store = (item: SettledItem): void => {
        pending += 1;
        let written: ObservableInput<unknown>;
        try {
          written = write(item.result);
        } catch (error) {
          settled({ ...item, stored: false, error });
          return;
        }
        if (isPromiseLike(written)) {
          written.then(
            () => settled({ ...item, stored: true }),
            (error: unknown) => settled({ ...item, stored: false, error }),
          );
          return;
        }
        // An Observable (tests, virtual time): each value is a store confirmation, as mergeMap would pass it on.
        let done = false;
        subscriber.add(
          from(written).subscribe({
            next: () => subscriber.next({ ...item, stored: true }),
            error: (error: unknown) => {
              if (!done) settled({ ...item, stored: false, error });
              done = true;
            },
            complete: () => {
              if (!done) settled(undefined);
              done = true;
            },
          }),
        );
      };
      const subscription = source.subscribe({
        next: store,
        error: (error: unknown) => subscriber.error(error),
        complete: () => {
          sourceDone = true;
          if (pending === 0) subscriber.complete();
        },
      });
      return () => subscription.unsubscribe();
    });
}

function isPromiseLike(value: ObservableInput<unknown>): value is PromiseLike<unknown> {
  return typeof (value as Partial<PromiseLike<unknown>>).then === 'function';
}

import { catchError, from, map, mergeMap, of, type ObservableInput, type OperatorFunction } from 'rxjs';
import type { FrameResult } from '../../core/frame.ts';
import type { SettledItem, StoredItem } from './flow-item.ts';

/**
 * Writes each result to the sinks (`write` settles once every sink holds it) and says whether it is stored. A sink
 * that refuses a result never ends the stream: the item comes out with `stored: false` and its error.
 */
export function storeResults(write: (result: FrameResult) => ObservableInput<unknown>): OperatorFunction<SettledItem, StoredItem> {
  return mergeMap((item) =>
    from(write(item.result)).pipe(
      map((): StoredItem => ({ ...item, stored: true })),
      catchError((error: unknown) => of<StoredItem>({ ...item, stored: false, error })),
    ),
  );
}

import { asyncScheduler, map, Subject, tap } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { RawMessage } from '../../../src/core/frame.ts';
import { MessageIntake } from '../../../src/pipeline/message-intake.ts';
import { freshestFirst } from '../../../src/pipeline/operators/freshest-first.ts';
import type { MessageItem } from '../../../src/pipeline/operators/flow-item.ts';
import { label, messageFor, settledFor } from './helpers.ts';

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

const captureTimes: Record<string, number> = { a: 0, b: 1, c: 2, d: 3, e: 4, f: 5 };

describe('freshestFirst', () => {
  it('releases at once while there is room, in arrival order', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot<MessageItem>('a-b-c|', { a: { kind: 'message', message: messageFor('a') }, b: { kind: 'message', message: messageFor('b', 2) }, c: { kind: 'message', message: messageFor('c', 4) } });
      const out = source.pipe(
        freshestFirst({ intake: new MessageIntake<RawMessage>(), hasRoom: () => true, room$: new Subject<void>(), expired: () => undefined, shed: (m, r) => settledFor(m.id ?? '?', 'shed', r), maxWaiting: 10, sweepEveryMs: 5 }),
        map(label),
      );
      expectObservable(out).toBe('a-b-c|', { a: 'msg:a', b: 'msg:b', c: 'msg:c' });
    });
  });

  it('holds messages while downstream is busy and releases the newest first when room appears', () => {
    scheduler().run(({ hot, expectObservable }) => {
      let slots = 1;
      const items = Object.fromEntries(Object.keys(captureTimes).map((k) => [k, { kind: 'message' as const, message: messageFor(k, 0) }]));
      const source = hot<MessageItem>('abcd------', items);
      const room = hot('-----r---r---r', { r: undefined }).pipe(tap(() => (slots += 1)));
      const out = source.pipe(
        freshestFirst({ intake: new MessageIntake<RawMessage>(), hasRoom: () => slots > 0, room$: room, expired: () => undefined, shed: (m, r) => settledFor(m.id ?? '?', 'shed', r), maxWaiting: 10, sweepEveryMs: 100 }),
        tap(() => (slots -= 1)),
        map(label),
      );
      // a goes at once; b, c, d wait; each freed slot takes the newest waiting: d, then c, then b.
      expectObservable(out).toBe('a----d---c---b', { a: 'msg:a', b: 'msg:b', c: 'msg:c', d: 'msg:d' });
    });
  });

  it('sheds waiting messages as they run out of time, oldest first, without releasing them', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const items = { a: { kind: 'message' as const, message: messageFor('a', 0) }, b: { kind: 'message' as const, message: messageFor('b', 3) } };
      const source = hot<MessageItem>('ab---------', items);
      const out = source.pipe(
        freshestFirst({
          intake: new MessageIntake<RawMessage>(),
          hasRoom: () => false,
          room$: new Subject<void>(),
          // Deadline 5 ms after capture, nothing else costs anything here.
          expired: (m) => (asyncScheduler.now() > (m.captureTs ?? 0) + 5 ? 'no-slack' : undefined),
          shed: (m, r) => settledFor(m.id ?? '?', 'shed', r),
          maxWaiting: 10,
          sweepEveryMs: 1,
        }),
        map(label),
      );
      // Swept every ms: a (captured at 0, due at 5) leaves at 6, b (captured at 3) at 9.
      expectObservable(out).toBe('------a--b', { a: 'shed/no-slack:a', b: 'shed/no-slack:b' });
    });
  });

  it('bounds what waits: a message beyond maxWaiting pushes the oldest out as queue-full', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const items = Object.fromEntries(['a', 'b', 'c'].map((k) => [k, { kind: 'message' as const, message: messageFor(k) }]));
      let open = false;
      const room = hot('-----r', { r: undefined }).pipe(tap(() => (open = true)));
      const out = hot<MessageItem>('abc', items).pipe(
        freshestFirst({ intake: new MessageIntake<RawMessage>(), hasRoom: () => open, room$: room, expired: () => undefined, shed: (m, r) => settledFor(m.id ?? '?', 'shed', r), maxWaiting: 2, sweepEveryMs: 100 }),
        map(label),
      );
      expectObservable(out).toBe('--a--(cb)', { a: 'shed/queue-full:a', b: 'msg:b', c: 'msg:c' });
    });
  });

  it('passes settled items straight through, and completes once nothing waits', () => {
    scheduler().run(({ hot, expectObservable }) => {
      let slots = 0;
      const source = hot('ab|', { a: { kind: 'message' as const, message: messageFor('a') }, b: settledFor('b', 'error', 'bad-json') });
      const room = hot('----r', { r: undefined }).pipe(tap(() => (slots += 1)));
      const out = source.pipe(
        freshestFirst({ intake: new MessageIntake<RawMessage>(), hasRoom: () => slots > 0, room$: room, expired: () => undefined, shed: (m, r) => settledFor(m.id ?? '?', 'shed', r), maxWaiting: 10, sweepEveryMs: 100 }),
        map(label),
      );
      expectObservable(out).toBe('-b--(a|)', { a: 'msg:a', b: 'error/bad-json:b' });
    });
  });
});

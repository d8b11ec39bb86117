import { map, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { FrameResult } from '../../../src/core/frame.ts';
import type { DecodeResult } from '../../../src/decode/decoder.ts';
import { DecodeError } from '../../../src/decode/decode-error.ts';
import { acknowledgeStored } from '../../../src/pipeline/operators/acknowledge-stored.ts';
import { decodeMessages } from '../../../src/pipeline/operators/decode-messages.ts';
import type { FlowItem, SettledItem, StoredItem } from '../../../src/pipeline/operators/flow-item.ts';
import { inferFrames } from '../../../src/pipeline/operators/infer-frames.ts';
import { shedHopelessOnArrival } from '../../../src/pipeline/operators/shed-hopeless-on-arrival.ts';
import { storeResults } from '../../../src/pipeline/operators/store-results.ts';
import { label, messageFor, settledFor } from './helpers.ts';

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

function frameOf(id: string): Extract<FlowItem, { kind: 'frame' }> {
  return { kind: 'frame', frame: { flow: 'f', id, captureTs: 0, captureTsSource: 'device', receivedTs: 0, tensor: new Float32Array(1), ack: () => undefined } };
}

describe('shedHopelessOnArrival', () => {
  it('settles the hopeless at once and lets the others through, in order', () => {
    scheduler().run(({ hot, expectObservable }) => {
      const source = hot('a-b-c', { a: messageFor('a', 0), b: messageFor('b', 1), c: messageFor('c', 2) });
      const out = source.pipe(
        shedHopelessOnArrival(
          (m) => (m.id === 'b' ? 'no-slack' : undefined),
          (m, reason) => settledFor(m.id ?? '?', 'shed', reason),
        ),
        map(label),
      );
      expectObservable(out).toBe('a-b-c', { a: 'msg:a', b: 'shed/no-slack:b', c: 'msg:c' });
    });
  });
});

describe('decodeMessages', () => {
  it('decodes concurrently, frames out as each decode ends; rejected payloads settle as errors; settled items pass', () => {
    scheduler().run(({ hot, cold, expectObservable }) => {
      const decodes: Record<string, string> = { a: '----(r|)', b: '-(r|)', c: '--(x|)' };
      const source = hot<FlowItem>('abcd', { a: { kind: 'message', message: messageFor('a') }, b: { kind: 'message', message: messageFor('b') }, c: { kind: 'message', message: messageFor('c') }, d: settledFor('d', 'shed', 'no-slack') });
      const out = source.pipe(
        decodeMessages(
          (m) => {
            const id = m.id ?? '?';
            const ok: DecodeResult = { ok: true, frame: frameOf(id).frame };
            const bad: DecodeResult = { ok: false, error: new DecodeError('bad-json', 'not JSON') };
            return cold(decodes[id] ?? '|', { r: ok, x: bad });
          },
          (m, rejected) => settledFor(m.id ?? '?', 'error', rejected.error.reason),
        ),
        map(label),
      );
      expectObservable(out).toBe('--bd(ac)', { a: 'frame:a', b: 'frame:b', c: 'error/bad-json:c', d: 'shed/no-slack:d' });
    });
  });
});

describe('inferFrames', () => {
  it('answers each frame when the model does; settled items pass straight through', () => {
    scheduler().run(({ hot, cold, expectObservable }) => {
      const source = hot<FlowItem>('ab-c', { a: frameOf('a'), b: settledFor('b', 'shed', 'overload'), c: frameOf('c') });
      const latency: Record<string, string> = { a: '---(r|)', c: '-(r|)' };
      const out = source.pipe(
        inferFrames((frame) => cold(latency[frame.id] ?? '|', { r: settledFor(frame.id, 'ok') })),
        map(label),
      );
      expectObservable(out).toBe('-b-ac', { a: 'ok:a', b: 'shed/overload:b', c: 'ok:c' });
    });
  });
});

describe('storeResults and acknowledgeStored', () => {
  it('acknowledges a message only once every sink stored its result; a refused write leaves it unacknowledged', () => {
    scheduler().run(({ hot, cold, expectObservable, flush }) => {
      const acked: string[] = [];
      const unstored: string[] = [];
      const source = hot<SettledItem>('ab', { a: settledFor('a', 'ok', undefined, () => acked.push('a')), b: settledFor('b', 'shed', 'overload', () => acked.push('b')) });
      const out = source.pipe(
        storeResults((result) => (result.id === 'a' ? cold('--(w|)', { w: undefined }) : cold('-#', undefined, new Error('disk full')))),
        acknowledgeStored((item) => unstored.push(item.result.id)),
        map((item: StoredItem) => `${item.result.id}:${item.stored}`),
      );
      expectObservable(out).toBe('--(ab)', { a: 'a:true', b: 'b:false' });
      flush();
      expect(acked).toEqual(['a']);
      expect(unstored).toEqual(['b']);
    });
  });

  it('follows promise writes: items leave as their writes settle, refusals as unstored, and the stream completes after the last', async () => {
    const resolvers = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
    const write = (result: FrameResult): Promise<void> => new Promise((resolve, reject) => resolvers.set(result.id, { resolve, reject }));
    const seen: string[] = [];
    let completed = false;
    const source = new Subject<SettledItem>();
    source.pipe(storeResults(write)).subscribe({ next: (item) => seen.push(`${item.result.id}:${item.stored}`), complete: () => (completed = true) });
    for (const id of ['a', 'b', 'c']) source.next(settledFor(id, 'ok'));
    source.complete();
    resolvers.get('b')?.resolve();
    await Promise.resolve();
    expect(seen).toEqual(['b:true']);
    resolvers.get('c')?.reject(new Error('disk full'));
    resolvers.get('a')?.resolve();
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['b:true', 'c:false', 'a:true']);
    expect(completed).toBe(true);
  });
});


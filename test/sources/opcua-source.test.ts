import { EventEmitter } from 'node:events';
import type { DataValue, OPCUAClient } from 'node-opcua';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RawMessage } from '../../src/core/frame.ts';
import { ConfigError } from '../../src/errors.ts';
import { opcuaSource, toOpcuaClientOptions, type OpcuaSourceOptions } from '../../src/sources/opcua-source.ts';
import type { SourceRejection, SourceStateChange } from '../../src/sources/source-events.ts';

// The OPC UA source's own logic with a fake node-opcua client: windows, status filtering, gaps, node retries.
const logger = pino({ level: 'silent' });

class FakeItem extends EventEmitter {
  constructor(readonly good: boolean) {
    super();
  }
  get statusCode() {
    return { isGood: () => this.good, toString: () => (this.good ? 'Good' : 'BadNodeIdUnknown (0x80340000)') };
  }
}

class FakeOpcua extends EventEmitter {
  readonly items = new Map<string, FakeItem>();
  monitorCalls: string[] = [];
  unknownNodes = new Set<string>();
  disconnected = false;
  readonly subscription = {
    monitor: async ({ nodeId }: { nodeId: string }) => {
      this.monitorCalls.push(nodeId);
      const item = new FakeItem(!this.unknownNodes.has(nodeId));
      if (item.good) this.items.set(nodeId, item);
      return item;
    },
    terminate: async () => undefined,
  };
  readonly session = { createSubscription2: async () => this.subscription, close: async () => undefined };
  connect = async (): Promise<void> => undefined;
  createSession = async () => this.session;
  disconnect = async (): Promise<void> => {
    this.disconnected = true;
  };
  asClient(): OPCUAClient {
    return this as unknown as OPCUAClient;
  }
}

const value = (values: unknown, sourceTs: number, good = true): DataValue =>
  ({ value: { value: values }, statusCode: { isGood: () => good }, sourceTimestamp: new Date(sourceTs) }) as unknown as DataValue;

const base: OpcuaSourceOptions = { flow: 'vib', endpoint: 'opc.tcp://plc:4840', nodeIds: ['ns=1;s=A'], window: { by: 'count', samples: 4 } };

function start(options: Partial<OpcuaSourceOptions> = {}, fake = new FakeOpcua()) {
  const messages: RawMessage[] = [];
  const states: SourceStateChange[] = [];
  const rejections: SourceRejection[] = [];
  const subscription = opcuaSource(
    { ...base, ...options },
    {
      logger,
      createClient: () => fake.asClient(),
      now: () => 5_000,
      events: { onStateChange: (change) => states.push(change), onRejected: (rejection) => rejections.push(rejection) },
    },
  ).subscribe((message) => messages.push(message));
  return { fake, messages, states, rejections, subscription };
}

const flush = () => vi.advanceTimersByTimeAsync(0);
afterEach(() => {
  vi.useRealTimers();
});

describe('opcuaSource (fake client)', () => {
  it('windows array values per node and dates them by the first sample', async () => {
    vi.useFakeTimers();
    const { fake, messages, states } = start();
    await flush();
    expect(states.map((change) => change.state)).toEqual(['connecting', 'connected']);
    fake.items.get('ns=1;s=A')?.emit('changed', value(Float32Array.from([1, 2, 3]), 100));
    fake.items.get('ns=1;s=A')?.emit('changed', value(Float32Array.from([4, 5, 6]), 200));
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ flow: 'vib', origin: 'ns=1;s=A', captureTs: 100, receivedTs: 5_000, id: 'ns=1;s=A@100' });
    expect(messages[0]?.payload).toEqual({ kind: 'samples', values: Float32Array.from([1, 2, 3, 4]) });
  });

  it('skips and counts bad samples, and drops the partial window across the gap', async () => {
    vi.useFakeTimers();
    const { fake, messages, rejections } = start();
    await flush();
    const item = fake.items.get('ns=1;s=A');
    item?.emit('changed', value([1, 2], 100));
    item?.emit('changed', value([9, 9, 9], 200, false));
    item?.emit('changed', value('text', 250));
    item?.emit('changed', value([3, 4, 5, 6], 300));
    expect(rejections).toEqual([
      { reason: 'bad-status', origin: 'ns=1;s=A', count: 3 },
      { reason: 'gap', origin: 'ns=1;s=A', count: 2 },
      { reason: 'not-numeric', origin: 'ns=1;s=A', count: 1 },
    ]);
    expect(messages.map((message) => message.payload)).toEqual([{ kind: 'samples', values: Float32Array.from([3, 4, 5, 6]) }]);
  });

  it('drops the partial window when a block is lost, and skips a block seen twice', async () => {
    vi.useFakeTimers();
    // 10 samples per block at 1 kHz: blocks every 10 ms.
    const { fake, messages, rejections } = start({ sampleRateHz: 1_000, window: { by: 'count', samples: 15 } });
    await flush();
    const item = fake.items.get('ns=1;s=A');
    const block = (from: number) => Array.from({ length: 10 }, (_, i) => from + i);
    item?.emit('changed', value(block(0), 1_000));
    item?.emit('changed', value(block(10), 1_010)); // window 0..14; 15..19 carried
    item?.emit('changed', value(block(10), 1_010)); // resent after a reconnection
    item?.emit('changed', value(block(30), 1_030)); // block 20..29 lost
    item?.emit('changed', value(block(40), 1_040));
    expect(rejections).toEqual([
      { reason: 'duplicate', origin: 'ns=1;s=A', count: 10 },
      { reason: 'gap', origin: 'ns=1;s=A', count: 5 },
    ]);
    expect(messages.map((message) => message.payload.kind === 'samples' && Array.from(message.payload.values))).toEqual([
      block(0).concat([10, 11, 12, 13, 14]),
      block(30).concat([40, 41, 42, 43, 44]),
    ]);
    expect(messages.map((message) => message.captureTs)).toEqual([1_000, 1_030]);
  });

  it('retries a node the server does not know, reporting every failed try', async () => {
    vi.useFakeTimers();
    const fake = new FakeOpcua();
    fake.unknownNodes.add('ns=1;s=Later');
    const { rejections, messages } = start({ nodeIds: ['ns=1;s=Later'], nodeRetryMs: 1_000 }, fake);
    await flush();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(rejections.map((r) => r.reason)).toEqual(['node-unavailable', 'node-unavailable', 'node-unavailable']);
    fake.unknownNodes.clear(); // the PLC program is loaded
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fake.monitorCalls).toHaveLength(4);
    fake.items.get('ns=1;s=Later')?.emit('changed', value([1, 2, 3, 4], 10));
    expect(messages).toHaveLength(1);
  });

  it('monitors a node again when the server drops its item later', async () => {
    vi.useFakeTimers();
    const { fake, rejections, messages } = start({ nodeRetryMs: 500 });
    await flush();
    fake.items.get('ns=1;s=A')?.emit('err', 'BadNodeIdUnknown');
    expect(rejections.map((r) => r.reason)).toEqual(['node-unavailable']);
    await vi.advanceTimersByTimeAsync(500);
    expect(fake.monitorCalls).toEqual(['ns=1;s=A', 'ns=1;s=A']);
    fake.items.get('ns=1;s=A')?.emit('changed', value([1, 2, 3, 4], 10));
    expect(messages).toHaveLength(1);
  });

  it('drops partial windows on a connection loss and reports the state', async () => {
    vi.useFakeTimers();
    const { fake, messages, states, rejections } = start();
    await flush();
    fake.items.get('ns=1;s=A')?.emit('changed', value([1, 2, 3], 100));
    fake.emit('connection_lost');
    fake.emit('connection_reestablished');
    fake.items.get('ns=1;s=A')?.emit('changed', value([4, 5, 6, 7], 900));
    expect(states.map((change) => change.state)).toEqual(['connecting', 'connected', 'reconnecting', 'connected']);
    expect(rejections).toEqual([{ reason: 'gap', origin: 'ns=1;s=A', count: 3 }]);
    expect(messages[0]?.captureTs).toBe(900);
  });

  it('closes time windows on the clock when a tag goes quiet', async () => {
    vi.useFakeTimers({ now: 0 });
    const fake = new FakeOpcua();
    const messages: RawMessage[] = [];
    opcuaSource({ ...base, window: { by: 'time', ms: 1_000 } }, { logger, createClient: () => fake.asClient() }).subscribe((m) => messages.push(m));
    await flush();
    fake.items.get('ns=1;s=A')?.emit('changed', value(20.5, 0));
    fake.items.get('ns=1;s=A')?.emit('changed', value(21, 300));
    await vi.advanceTimersByTimeAsync(900);
    expect(messages).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(400);
    expect(messages.map((message) => message.payload)).toEqual([{ kind: 'samples', values: Float32Array.from([20.5, 21]) }]);
  });

  it('disconnects on unsubscribe', async () => {
    vi.useFakeTimers();
    const { fake, subscription, states } = start();
    await flush();
    subscription.unsubscribe();
    await flush();
    expect(fake.disconnected).toBe(true);
    expect(states.at(-1)?.state).toBe('closed');
  });

  it('rejects config that cannot work before connecting', () => {
    expect(() => toOpcuaClientOptions({ ...base, endpoint: 'http://plc' })).toThrow(ConfigError);
    expect(() => toOpcuaClientOptions({ ...base, nodeIds: [] })).toThrow(ConfigError);
    expect(() => toOpcuaClientOptions({ ...base, securityMode: 'Sign', securityPolicy: 'None' })).toThrow(ConfigError);
    expect(() => toOpcuaClientOptions({ ...base, securityPolicy: 'Rot13' })).toThrow(ConfigError);
    expect(() => toOpcuaClientOptions({ ...base, username: 'op' })).toThrow(ConfigError);
    expect(toOpcuaClientOptions({ ...base, securityMode: 'SignAndEncrypt' })).toMatchObject({ securityMode: 3 });
  });
});

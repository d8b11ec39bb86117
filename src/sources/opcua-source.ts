import {
  AttributeIds,
  MessageSecurityMode,
  OPCUACertificateManager,
  OPCUAClient,
  SecurityPolicy,
  TimestampsToReturn,
  UserTokenType,
  type ClientMonitoredItem,
  type ClientSession,
  type ClientSubscription,
  type DataValue,
  type OPCUAClientOptions,
  type UserIdentityInfo,
} from 'node-opcua';
import type { Logger } from 'pino';
import { Observable } from 'rxjs';
import type { RawMessage } from '../core/frame.ts';
import { ConfigError } from '../errors.ts';
import { BlockContinuity } from './block-continuity.ts';
import type { OpcuaSourceConfig } from './opcua-source-config.ts';
import { SourceError, sourceRefused } from './source-errors.ts';
import { createWindower, type SampleWindow, type SampleWindower, type WindowSpec } from './sample-windower.ts';
import type { SourceConnectionState, SourceEvents } from './source-events.ts';

export type OpcuaSecurityMode = OpcuaSourceConfig['securityMode'];

/**
 * The OPC UA input of one flow: its `source: { kind: opcua }` block (opcua-source-config.ts, documented there), plus
 * the client settings no flow file sets. Called directly (flows always pass the schema's values), a left-out
 * samplingIntervalMs is 0 (every change), queueSize 10, securityMode None and certificateStore node-opcua's own.
 */
export interface OpcuaSourceOptions
  extends Pick<OpcuaSourceConfig, 'endpoint' | 'nodeIds' | 'username' | 'password'>,
    Partial<Pick<OpcuaSourceConfig, 'samplingIntervalMs' | 'queueSize' | 'securityMode' | 'certificateStore'>> {
  flow: string;
  publishingIntervalMs?: number;
  /** A node-opcua SecurityPolicy name, e.g. 'Basic256Sha256'; default 'None' without security, else Basic256Sha256. */
  securityPolicy?: string;
  /** Trust servers whose certificate is not in the trusted folder yet (default false: move it there by hand). */
  automaticallyAcceptUnknownCertificate?: boolean;
  window: WindowSpec;
  /**
   * Sample rate of array (waveform) values: dates windows that start inside a block and detects lost blocks.
   * Without it, the rate is learnt from the first two blocks' timestamps.
   */
  sampleRateHz?: number;
  /** Retry period for node ids the server does not (yet) know (default 5 s). */
  nodeRetryMs?: number;
  /** Reconnection backoff (node-opcua's connection strategy; retries forever). */
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
}

export interface OpcuaSourceDeps {
  logger: Logger;
  /** Creates the client; tests may pass their own. Default: OPCUAClient.create. */
  createClient?: (options: OPCUAClientOptions) => OPCUAClient;
  now?: () => number;
  events?: SourceEvents;
}

const NO_ACK = (): void => undefined;

/** createSession failures that mean "wrong credentials", not "try again later". */
const REFUSED_IDENTITY = /BadUserAccessDenied|BadIdentityTokenRejected|BadIdentityTokenInvalid/;

function securityModeOf(mode: OpcuaSecurityMode): MessageSecurityMode {
  return { None: MessageSecurityMode.None, Sign: MessageSecurityMode.Sign, SignAndEncrypt: MessageSecurityMode.SignAndEncrypt }[mode];
}

function securityPolicyOf(name: string): SecurityPolicy {
  const policy = (SecurityPolicy as unknown as Record<string, SecurityPolicy | undefined>)[name];
  if (policy === undefined) throw new ConfigError(`unknown OPC UA securityPolicy ${name}`);
  return policy;
}

/** Validates and maps options onto node-opcua client options; throws ConfigError before anything connects. */
export function toOpcuaClientOptions(options: OpcuaSourceOptions): OPCUAClientOptions {
  if (!options.endpoint.startsWith('opc.tcp://')) throw new ConfigError(`OPC UA endpoint must be opc.tcp://..., got ${options.endpoint}`);
  if (options.nodeIds.length === 0) throw new ConfigError('OPC UA source needs at least one node id');
  const mode = options.securityMode ?? 'None';
  const policyName = options.securityPolicy ?? (mode === 'None' ? 'None' : 'Basic256Sha256');
  if (mode !== 'None' && policyName === 'None') throw new ConfigError(`OPC UA securityMode ${mode} needs a securityPolicy other than None`);
  if ((options.username === undefined) !== (options.password === undefined)) {
    throw new ConfigError('OPC UA username and password go together');
  }
  return {
    applicationName: 'EdgeKE',
    endpointMustExist: false,
    keepSessionAlive: true,
    securityMode: securityModeOf(mode),
    securityPolicy: securityPolicyOf(policyName),
    connectionStrategy: {
      maxRetry: -1, // forever: the source never gives up on its own
      initialDelay: options.reconnectInitialDelayMs ?? 1_000,
      maxDelay: options.reconnectMaxDelayMs ?? 10_000,
    },
    clientCertificateManager:
      options.certificateStore === undefined
        ? undefined
        : new OPCUACertificateManager({
            rootFolder: options.certificateStore,
            automaticallyAcceptUnknownCertificate: options.automaticallyAcceptUnknownCertificate ?? false,
          }),
  };
}

function numericValues(value: unknown): ArrayLike<number> | undefined {
  if (typeof value === 'number') return [value];
  if (typeof value === 'boolean') return [value ? 1 : 0];
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return value as unknown as ArrayLike<number>;
  if (Array.isArray(value) && value.every((item) => typeof item === 'number')) return value as number[];
  return undefined;
}

/**
 * Windows of samples from OPC UA variables. Cold: connect on subscribe, close session and disconnect on unsubscribe.
 * One subscription with one monitored item per node id; array values (waveform blocks) and scalar values are joined
 * per node into windows (`options.window`); each window becomes one RawMessage with payload `{kind:'samples'}`,
 * `captureTs` = source timestamp of its first sample and `id` = `<nodeId>@<captureTs>`.
 *
 * Never ends on its own: node-opcua reconnects (forever) and transfers or re-creates the subscription; a partial
 * window is dropped on a connection loss or a bad sample (a window must not join samples across a gap). Samples with
 * a status other than Good are skipped and reported (`onRejected` 'bad-status'); a waveform block whose source
 * timestamp does not follow on from the previous one (lost blocks) also drops the partial window; dropped partials
 * are reported as 'gap', a block seen twice (resent after a reconnection) as 'duplicate'; node ids
 * the server rejects are retried every `nodeRetryMs` and reported as 'node-unavailable' on each failed try.
 * A server rejecting the user identity ends the stream with SourceError EDGEKE_SOURCE_REFUSED (not retryable).
 * OPC UA has no per-message acknowledgement: `ack()` is a no-op.
 */
export function opcuaSource(options: OpcuaSourceOptions, deps: OpcuaSourceDeps): Observable<RawMessage> {
  const clientOptions = toOpcuaClientOptions(options);
  const createClient = deps.createClient ?? ((opts: OPCUAClientOptions) => OPCUAClient.create(opts));
  const now = deps.now ?? Date.now;
  const nodeRetryMs = options.nodeRetryMs ?? 5_000;
  const identity: UserIdentityInfo =
    options.username === undefined
      ? { type: UserTokenType.Anonymous }
      : { type: UserTokenType.UserName, userName: options.username, password: options.password ?? '' };
  const log = deps.logger.child({ flow: options.flow, source: 'opcua', endpoint: options.endpoint });

  return new Observable<RawMessage>((subscriber) => {
    let closed = false;
    let state: SourceConnectionState | undefined;
    let session: ClientSession | undefined;
    let subscription: ClientSubscription | undefined;
    const timers = new Set<NodeJS.Timeout>();
    const windowers = new Map<string, SampleWindower>(options.nodeIds.map((nodeId) => [nodeId, createWindower(options.window, options.sampleRateHz)]));
    const sampleIntervalMs = options.sampleRateHz === undefined ? undefined : 1_000 / options.sampleRateHz;
    const continuities = new Map(options.nodeIds.map((nodeId) => [nodeId, new BlockContinuity(sampleIntervalMs)]));

    const setState = (next: SourceConnectionState, reason?: string): void => {
      if (state === next) return;
      state = next;
      if (next === 'connected') log.info({ nodeIds: options.nodeIds.length }, 'opcua source connected');
      else log.warn({ state: next, reason }, 'opcua source state');
      deps.events?.onStateChange?.({ state: next, reason });
    };
    const later = (ms: number, action: () => void): void => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!closed) action();
      }, ms);
      timers.add(timer);
    };
    const emitWindows = (nodeId: string, windows: SampleWindow[]): void => {
      for (const window of windows) {
        subscriber.next({
          flow: options.flow,
          origin: nodeId,
          payload: { kind: 'samples', values: window.values },
          receivedTs: now(),
          id: `${nodeId}@${Math.round(window.firstSampleTs)}`,
          captureTs: window.firstSampleTs,
          ack: NO_ACK,
        });
      }
    };
    const dropPartials = (): void => {
      for (const [nodeId, windower] of windowers) {
        const dropped = windower.discardPartial();
        if (dropped > 0) deps.events?.onRejected?.({ reason: 'gap', origin: nodeId, count: dropped });
      }
    };

    const onValue = (nodeId: string, windower: SampleWindower, dataValue: DataValue): void => {
      if (closed) return;
      const values = numericValues(dataValue.value.value);
      if (!dataValue.statusCode.isGood() || values === undefined) {
        const reason = values === undefined && dataValue.statusCode.isGood() ? 'not-numeric' : 'bad-status';
        const count = values?.length ?? 1;
        deps.events?.onRejected?.({ reason, origin: nodeId, count });
        const dropped = windower.discardPartial();
        if (dropped > 0) deps.events?.onRejected?.({ reason: 'gap', origin: nodeId, count: dropped });
        return;
      }
      const sourceTs = dataValue.sourceTimestamp?.getTime() ?? dataValue.serverTimestamp?.getTime() ?? now();
      const continuity = continuities.get(nodeId);
      if (values.length > 1 && continuity !== undefined) {
        // Waveform blocks: a lost block (server sampling slower than it updates, reconnection) is a gap.
        const verdict = continuity.check(sourceTs, values.length);
        if (verdict === 'duplicate') {
          deps.events?.onRejected?.({ reason: 'duplicate', origin: nodeId, count: values.length });
          return;
        }
        if (verdict === 'gap') {
          const dropped = windower.discardPartial();
          if (dropped > 0) deps.events?.onRejected?.({ reason: 'gap', origin: nodeId, count: dropped });
        }
      }
      emitWindows(nodeId, windower.push(values, sourceTs, continuity?.sampleIntervalMs));
    };

    const monitorNode = async (nodeId: string, attempt: number): Promise<void> => {
      const windower = windowers.get(nodeId);
      if (closed || subscription === undefined || windower === undefined) return;
      let item: ClientMonitoredItem | undefined;
      let failure: string | undefined;
      try {
        item = await subscription.monitor(
          { nodeId, attributeId: AttributeIds.Value },
          { samplingInterval: options.samplingIntervalMs ?? 0, queueSize: options.queueSize ?? 10, discardOldest: true },
          TimestampsToReturn.Both,
        );
        if (!item.statusCode.isGood()) failure = item.statusCode.toString();
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error);
      }
      if (closed) return;
      if (failure !== undefined || item === undefined) {
        log.warn({ nodeId, attempt, reason: failure, retryInMs: nodeRetryMs }, 'opcua node cannot be monitored; retrying');
        deps.events?.onRejected?.({ reason: 'node-unavailable', origin: nodeId, count: 1 });
        later(nodeRetryMs, () => void monitorNode(nodeId, attempt + 1));
        return;
      }
      if (attempt > 1) log.info({ nodeId, attempt }, 'opcua node monitored after retries');
      item.on('changed', (dataValue: DataValue) => onValue(nodeId, windower, dataValue));
      // The server may drop the item later (node deleted, subscription not recoverable): monitor it again.
      item.on('err', (message: string) => {
        if (closed) return;
        log.warn({ nodeId, reason: message, retryInMs: nodeRetryMs }, 'opcua monitored item failed; monitoring it again');
        deps.events?.onRejected?.({ reason: 'node-unavailable', origin: nodeId, count: 1 });
        later(nodeRetryMs, () => void monitorNode(nodeId, attempt + 1));
      });
    };

    const client = createClient(clientOptions);
    client.on('connection_lost', () => {
      if (closed) return;
      dropPartials();
      setState('reconnecting', 'connection lost');
    });
    client.on('backoff', (count, delay) => {
      if (!closed) log.debug({ count, delay }, 'opcua connection attempt failed; backing off');
    });
    client.on('connection_reestablished', () => {
      if (!closed) setState('connected', 'reconnected (subscription transferred or re-created by node-opcua)');
    });

    const start = async (): Promise<void> => {
      await client.connect(options.endpoint);
      if (closed) return;
      try {
        session = await client.createSession(identity);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        // Credentials the server rejects: config that retrying will not fix.
        if (REFUSED_IDENTITY.test(message)) {
          throw sourceRefused(`OPC UA server ${options.endpoint} rejected the user identity (${REFUSED_IDENTITY.exec(message)?.[0]})`, error);
        }
        throw error;
      }
      if (closed) return;
      subscription = await session.createSubscription2({
        requestedPublishingInterval: options.publishingIntervalMs ?? 100,
        requestedLifetimeCount: 100,
        requestedMaxKeepAliveCount: 10,
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 10,
      });
      setState('connected');
      await Promise.all(options.nodeIds.map((nodeId) => monitorNode(nodeId, 1)));
    };

    // Time windows also close on the clock, so a tag that stops changing still delivers its last window.
    if (options.window.by === 'time') {
      const flushTimer = setInterval(() => {
        for (const [nodeId, windower] of windowers) emitWindows(nodeId, windower.flushDue(now()));
      }, Math.max(10, Math.floor(options.window.ms / 4)));
      timers.add(flushTimer);
    }

    setState('connecting');
    const connectWithRetry = (attempt: number): void => {
      start().catch((error: unknown) => {
        if (closed) return;
        if (error instanceof SourceError && !error.retryable) {
          subscriber.error(error);
          return;
        }
        const delay = Math.min(options.reconnectMaxDelayMs ?? 10_000, (options.reconnectInitialDelayMs ?? 1_000) * 2 ** Math.min(attempt, 10));
        log.warn({ err: error instanceof Error ? error.message : String(error), retryInMs: delay }, 'opcua source could not start; retrying');
        setState('reconnecting', 'start failed');
        later(delay, () => {
          const cleanup = session?.close().catch(() => undefined);
          session = undefined;
          subscription = undefined;
          void Promise.resolve(cleanup)
            .then(() => client.disconnect())
            .then(() => connectWithRetry(attempt + 1));
        });
      });
    };
    connectWithRetry(0);

    return () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      setState('closed');
      const current = { session, subscription };
      void (async () => {
        try {
          await current.subscription?.terminate();
          await current.session?.close();
        } catch {
          // the server may be gone; disconnecting is what matters
        }
        await client.disconnect();
      })().catch((error: unknown) => log.warn({ err: error instanceof Error ? error.message : String(error) }, 'opcua client did not close cleanly'));
    };
  });
}

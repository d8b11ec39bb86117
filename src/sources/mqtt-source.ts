import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Observable } from 'rxjs';
import type { RawMessage } from '../core/frame.ts';
import { ConfigError } from '../errors.ts';
import { MqttAckTracker } from './mqtt-ack-tracker.ts';
import { MQTT_DEFAULTS, type MqttSourceConfig } from './mqtt-source-config.ts';

export { MQTT_DEFAULTS };
import { SourceError, sourceRefused } from './source-errors.ts';
import type { OversizePublish } from './mqtt-packet-limit.ts';
import {
  connectMqttJs,
  type IncomingPublish,
  type MqttTransport,
  type MqttTransportFactory,
  type MqttTransportOptions,
} from './mqtt-transport.ts';
import type { SourceConnectionState, SourceEvents } from './source-events.ts';

/**
 * The MQTT input of one flow: its `source: { kind: mqtt }` block (mqtt-source-config.ts, documented there; what is
 * left out takes `MQTT_DEFAULTS`) with the client id resolved, plus the client settings no flow file sets.
 */
export interface MqttSourceOptions
  extends Pick<MqttSourceConfig, 'url' | 'topic' | 'qos' | 'sharedGroup' | 'username' | 'password'>,
    Partial<Pick<MqttSourceConfig, 'cleanSession' | 'protocolVersion' | 'maxPacketBytes' | 'keepaliveSeconds'>> {
  flow: string;
  /** Fixed client id: the broker keys the persistent session (and its queued QoS 1 messages) on it. */
  clientId: string;
  /** PEM file paths (string, as in the flow file) or contents (Buffer). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; rejectUnauthorized?: boolean };
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  /** MQTT 5: how long the broker keeps the session while we are away (default one day). */
  sessionExpirySeconds?: number;
  /** MQTT 5: most unacked QoS 1 messages in flight to us; the broker holds back the rest (backpressure). */
  receiveMaximum?: number;
}

export interface MqttSourceDeps {
  logger: Logger;
  /** Creates the MQTT client; tests pass fakes. Default: mqtt.js. */
  connect?: MqttTransportFactory;
  now?: () => number;
  events?: SourceEvents;
}


/** The filter actually subscribed: `$share/<group>/<topic>` for a shared subscription. */
export function subscriptionFilter(options: Pick<MqttSourceOptions, 'topic' | 'sharedGroup'>): string {
  return options.sharedGroup === undefined ? options.topic : `$share/${options.sharedGroup}/${options.topic}`;
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `ts` user property: milliseconds since the epoch, or an ISO 8601 date. */
export function parseCaptureTs(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const asNumber = Number(value);
  if (Number.isFinite(asNumber)) return asNumber;
  const asDate = Date.parse(value);
  return Number.isFinite(asDate) ? asDate : undefined;
}

function readPem(value: string | Buffer | undefined, what: string): Buffer | undefined {
  if (value === undefined || Buffer.isBuffer(value)) return value;
  try {
    return readFileSync(value);
  } catch (error) {
    throw new ConfigError(`MQTT TLS ${what} file ${value} cannot be read`, { cause: error });
  }
}

/** Resolves defaults and files; throws ConfigError before anything connects. */
export function toTransportOptions(options: MqttSourceOptions): MqttTransportOptions {
  if (options.clientId.trim() === '') throw new ConfigError('MQTT source needs a fixed clientId');
  const protocolVersion = options.protocolVersion ?? MQTT_DEFAULTS.protocolVersion;
  if (options.sharedGroup !== undefined && protocolVersion !== 5) {
    throw new ConfigError('MQTT shared subscriptions (sharedGroup) need protocolVersion 5');
  }
  return {
    url: options.url,
    clientId: options.clientId,
    clean: options.cleanSession ?? false,
    protocolVersion,
    keepaliveSeconds: options.keepaliveSeconds ?? MQTT_DEFAULTS.keepaliveSeconds,
    reconnectPeriodMs: options.reconnectPeriodMs ?? MQTT_DEFAULTS.reconnectPeriodMs,
    connectTimeoutMs: options.connectTimeoutMs ?? MQTT_DEFAULTS.connectTimeoutMs,
    username: options.username,
    password: options.password,
    tls:
      options.tls === undefined
        ? undefined
        : {
            ca: readPem(options.tls.ca, 'ca'),
            cert: readPem(options.tls.cert, 'cert'),
            key: readPem(options.tls.key, 'key'),
            rejectUnauthorized: options.tls.rejectUnauthorized ?? true,
          },
    maximumPacketSize: options.maxPacketBytes ?? MQTT_DEFAULTS.maxPacketBytes,
    sessionExpirySeconds: (options.cleanSession ?? false) ? 0 : (options.sessionExpirySeconds ?? MQTT_DEFAULTS.sessionExpirySeconds),
    receiveMaximum: options.receiveMaximum,
  };
}

const NO_ACK = (): void => undefined;

/** The URL for messages and logs: user and password (mqtt://user:pass@host) removed. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * Messages of one MQTT subscription. Cold: each subscriber opens its own client (connect on subscribe, DISCONNECT on
 * unsubscribe, the persistent session stays at the broker). QoS 1 messages are PUBACKed only when the pipeline calls
 * `ack()`; unacked ones are redelivered by the broker after a reconnect or restart (at-least-once).
 *
 * Oversize payloads (over `maxPacketBytes`) are not emitted: they are acked and reported through
 * `events.onRejected` with reason 'oversize'. With MQTT 5 the broker itself drops messages over our maximum packet
 * size (and counts them in its own logs); with MQTT 3.1.1 the transport streams an oversize PUBLISH away as it
 * arrives, keeping only its topic and packet id, so it is never buffered whole.
 *
 * Config errors throw synchronously on call. A broker refusing us for good (bad credentials, not authorised for
 * the connection or the topic) ends the stream with a SourceError (code EDGEKE_SOURCE_REFUSED, not retryable). Other transport errors never end the
 * stream: the client reconnects and the state goes to `events.onStateChange`.
 */
export function mqttSource(options: MqttSourceOptions, deps: MqttSourceDeps): Observable<RawMessage> {
  const transportOptions = toTransportOptions(options);
  const connect = deps.connect ?? connectMqttJs;
  const now = deps.now ?? Date.now;
  const filter = subscriptionFilter(options);
  const maxPayloadBytes = transportOptions.maximumPacketSize ?? Number.POSITIVE_INFINITY;
  const safeUrl = withoutCredentials(options.url);
  const log = deps.logger.child({ flow: options.flow, source: 'mqtt', clientId: options.clientId });

  return new Observable<RawMessage>((subscriber) => {
    let state: SourceConnectionState | undefined;
    let closed = false;
    let lastErrorLogged: string | undefined;
    const setState = (next: SourceConnectionState, reason?: string): void => {
      if (state === next) return;
      state = next;
      if (next === 'connected') log.info({ filter }, 'mqtt source connected');
      else log.warn({ state: next, reason }, 'mqtt source state');
      deps.events?.onStateChange?.({ state: next, reason });
    };

    const emit = (message: IncomingPublish): void => {
      if (closed) return;
      let ack = NO_ACK;
      if (message.qos > 0 && message.messageId !== undefined) {
        const trackedAck = tracker.receive({ messageId: message.messageId, topic: message.topic, payload: message.payload, dup: message.dup });
        if (trackedAck === undefined) {
          log.debug({ topic: message.topic, messageId: message.messageId }, 'redelivery of a message the pipeline holds or acked');
          return;
        }
        ack = trackedAck;
      }
      if (message.payload.length > maxPayloadBytes) {
        ack();
        log.warn({ topic: message.topic, bytes: message.payload.length, maxPayloadBytes }, 'oversize mqtt payload dropped');
        deps.events?.onRejected?.({ reason: 'oversize', origin: message.topic, count: 1, bytes: message.payload.length });
        return;
      }
      const captureTs = parseCaptureTs(firstValue(message.userProperties.ts));
      const id = firstValue(message.userProperties.id);
      subscriber.next({
        flow: options.flow,
        origin: message.topic,
        payload: { kind: 'bytes', bytes: message.payload },
        receivedTs: now(),
        ...(id === undefined ? {} : { id }),
        ...(captureTs === undefined ? {} : { captureTs }),
        ack,
      });
    };

    // Dropped by the transport as it arrived (never buffered whole): acknowledged, so the broker does not resend it.
    const rejectOversize = (message: OversizePublish): void => {
      if (closed) return;
      if (message.qos > 0 && message.messageId !== undefined) link.transport?.puback(message.messageId);
      log.warn({ topic: message.topic, bytes: message.bytes, maxPacketBytes: maxPayloadBytes }, 'oversize mqtt packet dropped as it arrived');
      deps.events?.onRejected?.({ reason: 'oversize', origin: message.topic, count: 1, bytes: message.bytes });
    };

    // The transport calls back only after connect() returns, but the tracker must exist before any callback.
    const link: { transport?: MqttTransport } = {};
    const tracker = new MqttAckTracker((messageId) => link.transport?.puback(messageId) ?? false);
    setState('connecting');
    const transport = connect(transportOptions, {
      // On the CONNACK itself, not on mqtt.js's later 'connect': a redelivery handled in between would otherwise be
      // taken for a new message of the old connection, and its acknowledgement held back until the next reconnect.
      onSessionStart: (sessionPresent) => tracker.connected(sessionPresent),
      onConnect: (sessionPresent) => {
        lastErrorLogged = undefined;
        // Connected means subscribed: on a new session, messages published before the SUBACK never reach us, so
        // readiness must not say so earlier (a kept session already holds the subscription).
        if (sessionPresent) setState('connected');
        const subscribing = link.transport?.subscribe(filter, options.qos);
        subscribing?.then(() => {
          if (!closed) setState('connected');
        }, () => undefined);
        subscribing?.catch((error: unknown) => {
          if (closed) return;
          if (error instanceof SourceError && !error.retryable) {
            // Not authorised for the topic, or a filter the broker does not support: config, not a blip.
            subscriber.error(error);
            return;
          }
          // The connection dropped mid-subscribe: the next CONNACK subscribes again.
          log.warn({ filter, err: error instanceof Error ? error.message : String(error) }, 'mqtt subscribe failed; retrying on reconnect');
        });
      },
      onPublish: emit,
      onOversize: rejectOversize,
      onConnectionLost: (reason) => {
        if (!closed) setState('reconnecting', reason);
      },
      onRefused: (reasonCode, retryable) => {
        if (closed) return;
        if (retryable) {
          setState('reconnecting', `broker refused the connection (reason code ${reasonCode}); retrying`);
          return;
        }
        // Bad credentials or not authorised: config that retrying will not fix; ends the stream (and the flow).
        subscriber.error(
          sourceRefused(`MQTT broker ${safeUrl} refused client ${options.clientId} (reason code ${reasonCode}: credentials, authorisation or client id)`),
        );
      },
      onError: (error) => {
        // A broker that stays unreachable (or a certificate that stays untrusted) repeats the same error on every
        // reconnect attempt: log it when it changes, not every reconnectPeriod.
        if (closed || error.message === lastErrorLogged) return;
        lastErrorLogged = error.message;
        log.warn({ err: { message: error.message, code: (error as { code?: unknown }).code } }, 'mqtt client error');
      },
    });
    link.transport = transport;

    return () => {
      closed = true;
      setState('closed');
      transport.end().catch((error: unknown) => log.warn({ err: error }, 'mqtt client did not end cleanly'));
    };
  });
}

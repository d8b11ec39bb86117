import { mqttClientLog } from '../core/mqtt-client-log.ts';
import { batchWritesThisTurn, sendPromptly } from '../core/write-batching.ts';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Duplex } from 'node:stream';
import { OversizePacketFilter, type OversizePublish } from './mqtt-packet-limit.ts';
import { sourceRefused } from './source-errors.ts';

/**
 * The MQTT client seen by the MQTT source: a small surface so unit tests can pass a fake, and the one place that
 * knows mqtt.js internals (manual PUBACK).
 */

export interface IncomingPublish {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  /** Packet id (QoS 1); the broker keeps it for this message until it gets our PUBACK. */
  messageId?: number;
  /** Set by the broker when it redelivers a message it sent before. */
  dup: boolean;
  /** MQTT 5 user properties (empty with MQTT 3.1.1). */
  userProperties: Record<string, string | string[]>;
}

export interface MqttTransportHandlers {
  /**
   * A CONNACK accepting us was read: called before any packet behind it is handled. `sessionPresent` says whether the
   * broker kept our session (subscriptions, unacked messages, which it resends right behind the CONNACK).
   */
  onSessionStart: (sessionPresent: boolean) => void;
  /** The client is connected and may send (mqtt.js says so a few ticks after the CONNACK: redeliveries may come first). */
  onConnect: (sessionPresent: boolean) => void;
  onPublish: (message: IncomingPublish) => void;
  /**
   * A PUBLISH over `maximumPacketSize` was dropped as it arrived, never buffered whole; QoS 1 ones still need the
   * PUBACK (`puback(messageId)`), or the broker would resend them on every reconnect.
   */
  onOversize: (message: OversizePublish) => void;
  /** The connection is gone (closed, keepalive timeout, broker DISCONNECT); the client reconnects on its own. */
  onConnectionLost: (reason: string) => void;
  /**
   * The broker answered CONNACK with a refusal. `retryable` refusals (server unavailable or busy) are retried after
   * the reconnect period; the others (bad credentials, not authorised, client id rejected) are not.
   */
  onRefused: (reasonCode: number, retryable: boolean) => void;
  onError: (error: Error) => void;
}

export interface MqttTransportOptions {
  url: string;
  clientId: string;
  clean: boolean;
  protocolVersion: 4 | 5;
  keepaliveSeconds: number;
  reconnectPeriodMs: number;
  connectTimeoutMs: number;
  username?: string;
  password?: string;
  tls?: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized: boolean };
  /**
   * Largest packet accepted. MQTT 5: announced, so the broker does not send larger ones. Both versions: a larger
   * PUBLISH is streamed away as it arrives (OversizePacketFilter) and reported through `onOversize`.
   */
  maximumPacketSize?: number;
  /** MQTT 5 only: how long the broker keeps our session after we disconnect. */
  sessionExpirySeconds?: number;
  /** MQTT 5 only: how many unacknowledged QoS 1 messages the broker may have in flight to us. */
  receiveMaximum?: number;
}

export interface MqttTransport {
  /** Rejects with a non-retryable SourceError when the broker refuses the subscription. */
  subscribe: (filter: string, qos: 0 | 1) => Promise<void>;
  /** Sends the PUBACK on the current connection; false when not connected (the broker then redelivers). */
  puback: (messageId: number) => boolean;
  isConnected: () => boolean;
  end: () => Promise<void>;
}

export type MqttTransportFactory = (options: MqttTransportOptions, handlers: MqttTransportHandlers) => MqttTransport;

/** CONNACK codes worth retrying: 3 (3.1.1) and 136 (5) server unavailable, 137 server busy, 159 rate exceeded. */
const RETRYABLE_REFUSALS = new Set([3, 136, 137, 159]);

/** mqtt.js marks this error in a handleMessage callback as "skip the automatic PUBACK": we send it ourselves later. */
class DeferredAck extends Error {}
const DEFERRED_ACK = new DeferredAck('PUBACK deferred until the pipeline acks the message');

interface PubackSender {
  _sendPacket: (packet: { cmd: 'puback'; messageId: number; reasonCode?: number }, cb?: (error?: Error) => void) => void;
}

interface StreamBuilderHolder {
  streamBuilder: (...args: unknown[]) => Duplex;
}

/**
 * mqtt.js reads its socket through `stream.pipe(parser input)` and writes with `stream.write`: reading through the
 * filter changes what it parses and nothing else (errors and close still come from the socket itself).
 */
function filterIncoming(stream: Duplex, filter: OversizePacketFilter): Duplex {
  const pipe = stream.pipe.bind(stream);
  stream.pipe = <T extends NodeJS.WritableStream>(destination: T, pipeOptions?: { end?: boolean }): T => {
    pipe(filter);
    return filter.pipe(destination, pipeOptions);
  };
  return stream;
}

function toClientOptions(options: MqttTransportOptions): IClientOptions {
  const clientOptions: IClientOptions = {
    ...mqttClientLog(),
    clientId: options.clientId,
    clean: options.clean,
    protocolVersion: options.protocolVersion,
    keepalive: options.keepaliveSeconds,
    reconnectPeriod: options.reconnectPeriodMs,
    connectTimeout: options.connectTimeoutMs,
    // The source subscribes on every CONNACK itself (restores the subscription when the broker lost the session).
    resubscribe: false,
    username: options.username,
    password: options.password,
  };
  if (options.tls !== undefined) {
    clientOptions.ca = options.tls.ca;
    clientOptions.cert = options.tls.cert;
    clientOptions.key = options.tls.key;
    clientOptions.rejectUnauthorized = options.tls.rejectUnauthorized;
  }
  if (options.protocolVersion === 5) {
    clientOptions.properties = {
      maximumPacketSize: options.maximumPacketSize,
      sessionExpiryInterval: options.sessionExpirySeconds,
      receiveMaximum: options.receiveMaximum,
    };
  }
  return clientOptions;
}

function userPropertiesOf(packet: IPublishPacket): Record<string, string | string[]> {
  return packet.properties?.userProperties ?? {};
}

/**
 * mqtt.js (v5) sends a QoS 1 PUBACK when `handleMessage` calls back, and handles the next packet only after that:
 * waiting there for the pipeline would serialise all messages (and stall PINGRESP handling). So handleMessage calls
 * back at once with a marker error, which makes mqtt.js skip its PUBACK (MQTT 3.1.1 and 5 alike; `customHandleAcks`
 * is MQTT 5 only and has the same stall), and `puback()` writes the PUBACK when the pipeline acks.
 */
export const connectMqttJs: MqttTransportFactory = (options, handlers) => {
  // Connected by hand below, once every new socket (first connection and reconnects) goes through the size filter.
  const client: MqttClient = mqtt.connect(options.url, { ...toClientOptions(options), manualConnect: true });
  const maximumPacketSize = options.maximumPacketSize;
  if (maximumPacketSize !== undefined) {
    const internals = client as unknown as StreamBuilderHolder;
    const buildStream = internals.streamBuilder;
    internals.streamBuilder = (...args) => filterIncoming(buildStream(...args), new OversizePacketFilter(maximumPacketSize, handlers.onOversize));
  }

  client.handleMessage = (packet, callback) => {
    handlers.onPublish({
      topic: packet.topic,
      payload: Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload),
      qos: packet.qos,
      messageId: packet.messageId,
      dup: packet.dup,
      userProperties: userPropertiesOf(packet),
    });
    callback(packet.qos === 1 ? DEFERRED_ACK : undefined);
  };
  client.on('connect', (connack) => {
    // PUBACKs leave as they are written, not held until the broker ACKs the previous segment.
    sendPromptly(client.stream);
    handlers.onConnect(connack.sessionPresent);
  });
  // mqtt.js stops reconnecting after any CONNACK refusal; retry the transient ones ourselves.
  let retryTimer: NodeJS.Timeout | undefined;
  let ending = false;
  client.on('packetreceive', (packet) => {
    if (packet.cmd !== 'connack') return;
    const code = (options.protocolVersion === 5 ? packet.reasonCode : packet.returnCode) ?? 0;
    if (code === 0) {
      handlers.onSessionStart(packet.sessionPresent);
      return;
    }
    const retryable = RETRYABLE_REFUSALS.has(code);
    handlers.onRefused(code, retryable);
    if (retryable && !ending) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => {
        if (!ending) client.reconnect();
      }, options.reconnectPeriodMs);
    }
  });
  client.on('offline', () => handlers.onConnectionLost('offline'));
  client.on('close', () => handlers.onConnectionLost('connection closed'));
  client.on('disconnect', (packet) => handlers.onConnectionLost(`broker disconnected us (reason ${packet.reasonCode ?? 0})`));
  client.on('error', (error) => handlers.onError(error));
  client.connect();

  return {
    subscribe: async (filter, qos) => {
      const granted = await client.subscribeAsync(filter, { qos });
      const refused = granted.find((grant) => grant.qos > 2);
      // A SUBACK failure code (e.g. 135 not authorised, 143 bad filter, 158 shared subscriptions unsupported).
      if (refused !== undefined) throw sourceRefused(`broker refused the subscription to ${filter} (reason code ${refused.qos})`);
    },
    puback: (messageId) => {
      if (!client.connected) return false;
      batchWritesThisTurn(client.stream);
      (client as unknown as PubackSender)._sendPacket({ cmd: 'puback', messageId, reasonCode: 0 });
      return true;
    },
    isConnected: () => client.connected,
    end: () => {
      ending = true;
      clearTimeout(retryTimer);
      return client.endAsync(false).then(() => undefined);
    },
  };
};

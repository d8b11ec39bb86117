import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import { FrameScheduler, type LoadProfile } from './load-profile.ts';

/** One frame a simulator publishes: the payload and, for MQTT 5, user properties (id, ts, label). */
export interface ReplayFrame {
  payload: Buffer | string;
  userProperties?: Record<string, string>;
}

export interface MqttReplayPublisherOptions {
  url: string;
  topic: string;
  /** Base frames per second; the load profile multiplies it. */
  ratePerSecond: number;
  profile?: LoadProfile;
  qos?: 0 | 1;
  /** 4 for MQTT 3.1.1 brokers (aedes), 5 for user properties. */
  protocolVersion?: 4 | 5;
  clientId?: string;
  username?: string;
  password?: string;
  /** Stop after this many frames (default: run until stop()). */
  limit?: number;
  /** Timer period for checking which frames are due (default 10 ms). */
  tickMs?: number;
  now?: () => number;
  logger?: Logger;
}

/** Broker, topic, pacing and client settings a simulator passes through to its replay publisher. */
export type ReplayTransportOptions = Omit<MqttReplayPublisherOptions, 'ratePerSecond'>;

export interface ReplayPublisherStats {
  published: number;
  failed: number;
  /** Frames that fell due while the broker was unreachable: dropped, as a real device would. */
  skipped: number;
}

export interface RunningReplayPublisher {
  stats: () => ReplayPublisherStats;
  /** Resolves once `limit` frames were published (never without a limit). */
  finished: Promise<void>;
  /** Changes the base rate from now on (the load profile still multiplies it). */
  setRatePerSecond: (ratePerSecond: number) => void;
  stop: () => Promise<void>;
}

/**
 * Publishes frames made by `nextFrame(seq, now)` at a rate shaped by a load profile. The shared engine of the
 * camera and vibration simulators. Starts without waiting for the broker (in a compose stack it may come up later)
 * and keeps reconnecting; frames due while it is unreachable are skipped and counted, not queued. A publish error is
 * counted and logged, never thrown.
 */
export async function startMqttReplayPublisher(
  options: MqttReplayPublisherOptions,
  nextFrame: (seq: number, now: number) => ReplayFrame,
): Promise<RunningReplayPublisher> {
  const now = options.now ?? Date.now;
  const protocolVersion = options.protocolVersion ?? 5;
  const client: MqttClient = mqtt.connect(options.url, {
    protocolVersion,
    clientId: options.clientId ?? `edgeke-sim-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    username: options.username,
    password: options.password,
    reconnectPeriod: 1_000,
  });
  const scheduler = new FrameScheduler(options.profile ?? { kind: 'steady' }, options.ratePerSecond, now());
  const stats: ReplayPublisherStats = { published: 0, failed: 0, skipped: 0 };
  let lastError: string | undefined;
  client.on('error', (error) => {
    if (error.message !== lastError) options.logger?.warn({ url: options.url, err: error.message }, 'simulator MQTT client error');
    lastError = error.message;
  });
  client.on('connect', () => {
    lastError = undefined;
    options.logger?.info({ url: options.url }, 'simulator connected');
  });
  let seq = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const limit = options.limit ?? Number.POSITIVE_INFINITY;

  const publish = (frame: ReplayFrame): void => {
    const properties = protocolVersion === 5 && frame.userProperties !== undefined ? { userProperties: frame.userProperties } : undefined;
    client.publish(options.topic, frame.payload, { qos: options.qos ?? 1, properties }, (error) => {
      if (error === undefined || error === null) stats.published += 1;
      else {
        stats.failed += 1;
        options.logger?.warn({ topic: options.topic, err: error.message }, 'simulator publish failed');
      }
      if (stats.published + stats.failed >= limit) finish();
    });
  };

  const tick = (): void => {
    const at = now();
    const due = scheduler.due(at);
    if (!client.connected) {
      stats.skipped += due;
      return;
    }
    for (let frames = due; frames > 0 && seq < limit; frames -= 1) {
      publish(nextFrame(seq, at));
      seq += 1;
    }
    if (seq >= limit) clearInterval(timer);
  };
  const timer = setInterval(tick, options.tickMs ?? 10);
  options.logger?.info({ topic: options.topic, ratePerSecond: options.ratePerSecond, profile: options.profile?.kind ?? 'steady' }, 'simulator publishing');

  let stopped: Promise<void> | undefined;
  return {
    stats: () => ({ ...stats }),
    finished,
    setRatePerSecond: (ratePerSecond) => {
      // Frames due until now at the old rate first, so the change applies from now on only.
      if (client.connected) tick();
      scheduler.setBaseRate(ratePerSecond);
    },
    stop: () => {
      stopped ??= (async () => {
        clearInterval(timer);
        await client.endAsync(!client.connected);
        finish();
      })();
      return stopped;
    },
  };
}

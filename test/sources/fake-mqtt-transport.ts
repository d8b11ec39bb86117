import type {
  IncomingPublish,
  MqttTransport,
  MqttTransportFactory,
  MqttTransportHandlers,
  MqttTransportOptions,
} from '../../src/sources/mqtt-transport.ts';

/** An in-memory MQTT client: tests drive connects, publishes and losses, and read back PUBACKs and subscriptions. */
export class FakeMqttTransport implements MqttTransport {
  connected = false;
  ended = false;
  readonly pubacks: number[] = [];
  readonly subscriptions: Array<{ filter: string; qos: 0 | 1 }> = [];
  handlers!: MqttTransportHandlers;
  options!: MqttTransportOptions;

  readonly factory: MqttTransportFactory = (options, handlers) => {
    this.options = options;
    this.handlers = handlers;
    return this;
  };

  brokerConnects(sessionPresent: boolean): void {
    this.brokerConnacks(sessionPresent);
    this.clientSaysConnected(sessionPresent);
  }

  /** The CONNACK is read; as with mqtt.js, the client says it is connected only later (`clientSaysConnected`). */
  brokerConnacks(sessionPresent: boolean): void {
    this.connected = true;
    this.handlers.onSessionStart(sessionPresent);
  }

  clientSaysConnected(sessionPresent: boolean): void {
    this.handlers.onConnect(sessionPresent);
  }

  brokerSends(message: Partial<IncomingPublish> & { messageId?: number }): void {
    this.handlers.onPublish({
      topic: 'plant/camera',
      payload: Buffer.from('x'),
      qos: 1,
      dup: false,
      userProperties: {},
      ...message,
    });
  }

  brokerRefuses(reasonCode: number, retryable: boolean): void {
    this.handlers.onRefused(reasonCode, retryable);
  }

  connectionLost(): void {
    this.connected = false;
    this.handlers.onConnectionLost('test');
  }

  /** Set to make the next SUBSCRIBE fail. */
  subscribeError: Error | undefined;

  subscribe = async (filter: string, qos: 0 | 1): Promise<void> => {
    this.subscriptions.push({ filter, qos });
    if (this.subscribeError !== undefined) throw this.subscribeError;
  };

  puback = (messageId: number): boolean => {
    if (!this.connected) return false;
    this.pubacks.push(messageId);
    return true;
  };

  isConnected = (): boolean => this.connected;

  end = async (): Promise<void> => {
    this.ended = true;
    this.connected = false;
  };
}

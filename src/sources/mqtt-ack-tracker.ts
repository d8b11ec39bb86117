/**
 * Which QoS 1 messages the pipeline still holds, per MQTT connection, so that a PUBACK only ever goes out on the
 * connection where the broker expects it.
 *
 * An unacked message stays in flight at the broker under its packet id; after a reconnect with the session kept,
 * the broker sends it again under the same id. If the pipeline still holds the first copy, the copy is not emitted
 * again: the pipeline's ack answers it. If the pipeline acked while we were offline, the copy is acked at once.
 * Without a kept session the broker forgets in-flight messages, and so does the tracker.
 */
interface PendingAck {
  /** Connection on which the broker last sent this message. */
  generation: number;
  acked: boolean;
  topic: string;
  payload: Buffer;
}

/** What identifies a redelivery: the broker sets DUP and resends the same topic and payload under the same id. */
export interface IncomingQos1 {
  messageId: number;
  topic: string;
  payload: Buffer;
  dup: boolean;
}

export class MqttAckTracker {
  private generation = 0;
  private readonly pending = new Map<number, PendingAck>();

  /** `sendPuback` writes a PUBACK on the current connection and says whether it could. */
  constructor(private readonly sendPuback: (messageId: number) => boolean) {}

  get pendingCount(): number {
    return this.pending.size;
  }

  /** A new connection is up. */
  connected(sessionPresent: boolean): void {
    this.generation += 1;
    if (!sessionPresent) {
      this.pending.clear();
      return;
    }
    // Entries older than the previous connection were not redelivered then and will not be now.
    for (const [messageId, entry] of this.pending) {
      if (entry.generation < this.generation - 1) this.pending.delete(messageId);
    }
  }

  /**
   * A QoS 1 message arrived. Returns the ack to hand to the pipeline, or undefined when it is a redelivery of a
   * message the pipeline already holds (or already acked), which must not be emitted twice. A broker that lost the
   * message may reuse its id for a new one: without DUP and the same topic and payload it is not a redelivery.
   */
  receive(message: IncomingQos1): (() => void) | undefined {
    const { messageId } = message;
    const existing = this.pending.get(messageId);
    const isRedelivery =
      existing !== undefined &&
      existing.generation < this.generation &&
      message.dup &&
      existing.topic === message.topic &&
      existing.payload.equals(message.payload);
    if (existing !== undefined && isRedelivery) {
      if (existing.acked) {
        if (this.sendPuback(messageId)) this.pending.delete(messageId);
        else existing.generation = this.generation;
        return undefined;
      }
      existing.generation = this.generation;
      return undefined;
    }
    const entry: PendingAck = { generation: this.generation, acked: false, topic: message.topic, payload: message.payload };
    this.pending.set(messageId, entry);
    return () => this.ack(messageId, entry);
  }

  private ack(messageId: number, entry: PendingAck): void {
    if (entry.acked) return;
    entry.acked = true;
    // Forgotten (session lost) or replaced: the broker no longer waits for this PUBACK.
    if (this.pending.get(messageId) !== entry) return;
    if (entry.generation === this.generation && this.sendPuback(messageId)) this.pending.delete(messageId);
    // Otherwise the broker redelivers it after the reconnect and receive() sends the PUBACK then.
  }
}

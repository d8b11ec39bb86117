import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';

const corked = new WeakSet<Writable>();

/**
 * Holds a stream's writes until the current event-loop turn ends, then sends them together: a group commit acks
 * dozens of MQTT messages and a batch publishes dozens of results, each a small packet, and one socket write per
 * packet (a syscall, plus loopback delivery charged to the sender) cost ~0.1 ms per frame. Call before each write.
 */
export function batchWritesThisTurn(stream: Writable | undefined): void {
  if (stream === undefined || corked.has(stream) || stream.writableEnded || stream.destroyed) return;
  corked.add(stream);
  stream.cork();
  setImmediate(() => {
    corked.delete(stream);
    stream.uncork();
  });
}

/**
 * Turns Nagle's algorithm off on an MQTT client's socket (a no-op for other streams): with it on, a small write waits
 * for the peer's ACK of the last one, which Linux delays up to 40 ms. Call on every (re)connect.
 */
export function sendPromptly(stream: Writable | undefined): void {
  (stream as Partial<Pick<Socket, 'setNoDelay'>> | undefined)?.setNoDelay?.(true);
}

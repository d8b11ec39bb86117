import { Transform, type TransformCallback } from 'node:stream';

/**
 * Refuses oversize MQTT packets before they are buffered. MQTT 3.1.1 has no maximum packet size a client can
 * announce, and mqtt.js (mqtt-packet) collects a whole packet before parsing it: a broker relaying a 200 MB PUBLISH
 * would have us hold 200 MB. This filter sits between the socket and mqtt.js, reads each packet's fixed header
 * (type and remaining length), and streams an oversize PUBLISH away as it arrives, keeping only its topic and packet
 * id (so it can be acknowledged and counted). Every other packet passes through unchanged.
 */

/** An oversize PUBLISH that was dropped, with what is needed to acknowledge and report it. */
export interface OversizePublish {
  topic: string;
  qos: 0 | 1 | 2;
  /** Present for QoS 1 and 2. */
  messageId?: number;
  /** The whole packet's size (fixed header included). */
  bytes: number;
}

const PUBLISH = 3;
/** A remaining length takes 1-4 bytes; a fifth continuation bit is a malformed packet. */
const MAX_LENGTH_BYTES = 4;

type State =
  /** `chunk`/`start`: where the header began, to pass it on as a slice when it lies in one chunk. */
  | { kind: 'header'; bytes: number[]; chunk?: Buffer; start?: number }
  | { kind: 'forward'; left: number }
  | { kind: 'skip'; packet: { qos: 0 | 1 | 2; bytes: number }; prefix: Buffer; reported: boolean; left: number }
  /** Malformed framing: hand everything to mqtt.js, whose parser reports the error and closes the connection. */
  | { kind: 'passthrough' };

export class OversizePacketFilter extends Transform {
  private state: State = { kind: 'header', bytes: [] };

  constructor(
    private readonly maxPacketBytes: number,
    private readonly onOversize: (publish: OversizePublish) => void,
  ) {
    super();
  }

  /** What this chunk lets through, pushed as one buffer (the chunk itself when nothing was dropped). */
  private out: Buffer[] = [];
  /** The last range of `out` when it is a slice of the current chunk, so the next adjacent slice extends it. */
  private lastSlice: { chunk: Buffer; from: number; to: number } | undefined;

  private pass(chunk: Buffer, from: number, to: number): void {
    const last = this.lastSlice;
    if (last !== undefined && last.chunk === chunk && last.to === from) {
      last.to = to;
      this.out[this.out.length - 1] = chunk.subarray(last.from, to);
      return;
    }
    this.out.push(chunk.subarray(from, to));
    this.lastSlice = { chunk, from, to };
  }

  private passCopy(bytes: number[]): void {
    this.out.push(Buffer.from(bytes));
    this.lastSlice = undefined;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) at = this.consume(chunk, at);
    const out = this.out;
    this.out = [];
    this.lastSlice = undefined;
    // One push per socket read, as without the filter: mqtt.js then sees the packets of one read together (a CONNACK
    // and the redeliveries right behind it are handled in order within one write).
    if (out.length === 1) callback(null, out[0]);
    else if (out.length > 1) callback(null, Buffer.concat(out));
    else callback();
  }

  /** Consumes bytes of `chunk` from `at` in the current state; returns where it stopped. */
  private consume(chunk: Buffer, at: number): number {
    const state = this.state;
    switch (state.kind) {
      case 'passthrough':
        this.pass(chunk, at, chunk.length);
        return chunk.length;
      case 'forward': {
        const end = Math.min(chunk.length, at + state.left);
        this.pass(chunk, at, end);
        state.left -= end - at;
        if (state.left === 0) this.state = { kind: 'header', bytes: [] };
        return end;
      }
      case 'skip':
        return this.skip(state, chunk, at);
      case 'header':
        return this.header(state, chunk, at);
    }
  }

  private header(state: Extract<State, { kind: 'header' }>, chunk: Buffer, at: number): number {
    const byte = chunk[at] as number;
    if (state.bytes.length === 0) {
      state.chunk = chunk;
      state.start = at;
    }
    state.bytes.push(byte);
    const passHeader = (): void => {
      if (state.chunk === chunk && state.start !== undefined) this.pass(chunk, state.start, at + 1);
      else this.passCopy(state.bytes);
    };
    const lengthBytes = state.bytes.length - 1;
    if (lengthBytes === 0 || (byte & 0x80) !== 0) {
      if (lengthBytes >= MAX_LENGTH_BYTES) {
        passHeader();
        this.state = { kind: 'passthrough' };
      }
      return at + 1;
    }
    let remaining = 0;
    for (let index = lengthBytes; index >= 1; index -= 1) remaining = remaining * 128 + ((state.bytes[index] as number) & 0x7f);
    const first = state.bytes[0] as number;
    const total = state.bytes.length + remaining;
    if (first >> 4 === PUBLISH && total > this.maxPacketBytes) {
      const qos = ((first >> 1) & 0x03) as 0 | 1 | 2;
      const skip: State = { kind: 'skip', packet: { qos, bytes: total }, prefix: Buffer.alloc(0), reported: false, left: remaining };
      this.state = skip;
      if (remaining === 0) {
        this.report(skip);
        this.state = { kind: 'header', bytes: [] };
      }
    } else {
      passHeader();
      this.state = remaining === 0 ? { kind: 'header', bytes: [] } : { kind: 'forward', left: remaining };
    }
    return at + 1;
  }

  /** Keeps the topic and packet id of an oversize PUBLISH (at most 65,539 bytes) and drops the rest. */
  private skip(state: Extract<State, { kind: 'skip' }>, chunk: Buffer, at: number): number {
    const end = Math.min(chunk.length, at + state.left);
    let from = at;
    while (!state.reported && from < end) {
      const wanted = prefixWanted(state.prefix, state.packet.qos);
      if (state.prefix.length >= wanted) break;
      const take = chunk.subarray(from, Math.min(end, from + wanted - state.prefix.length));
      state.prefix = Buffer.concat([state.prefix, take]);
      from += take.length;
    }
    if (!state.reported && state.prefix.length >= prefixWanted(state.prefix, state.packet.qos)) this.report(state);
    state.left -= end - at;
    if (state.left === 0) {
      this.report(state); // a packet too short for its own topic: report what there is
      this.state = { kind: 'header', bytes: [] };
    }
    return end;
  }

  private report(state: Extract<State, { kind: 'skip' }>): void {
    if (state.reported) return;
    state.reported = true;
    const { prefix, packet } = state;
    const topicLength = prefix.length >= 2 ? prefix.readUInt16BE(0) : 0;
    const topic = prefix.subarray(2, 2 + topicLength).toString('utf8');
    const idAt = 2 + topicLength;
    const messageId = packet.qos > 0 && prefix.length >= idAt + 2 ? prefix.readUInt16BE(idAt) : undefined;
    this.onOversize({ topic, qos: packet.qos, bytes: packet.bytes, ...(messageId === undefined ? {} : { messageId }) });
  }
}

/** Topic length (2), the topic, then the packet id (2) for QoS 1 and 2. */
function prefixWanted(prefix: Buffer, qos: 0 | 1 | 2): number {
  if (prefix.length < 2) return 2;
  return 2 + prefix.readUInt16BE(0) + (qos === 0 ? 0 : 2);
}

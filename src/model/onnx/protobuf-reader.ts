/**
 * A minimal protocol-buffers wire-format reader: enough to walk an ONNX ModelProto without a .proto compiler.
 * Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (3/4, groups, are not used by ONNX).
 */

export class ProtobufError extends Error {}

export interface WireField {
  field: number;
  wireType: number;
  /** varint value (wire type 0) as a signed 64-bit BigInt. */
  varint?: bigint;
  /** Payload of wire types 1, 2 and 5. */
  bytes?: Uint8Array;
}

export class ProtobufReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** Unsigned varint as a number; for lengths and tags (fits in 53 bits in any real file). */
  readLength(): number {
    let result = 0;
    let shift = 1;
    for (let i = 0; i < 10; i++) {
      const byte = this.byte();
      result += (byte & 0x7f) * shift;
      if ((byte & 0x80) === 0) return result;
      shift *= 128;
    }
    throw new ProtobufError('varint longer than 10 bytes');
  }

  /** Varint as a signed 64-bit integer (int64 fields: negative values take 10 bytes, two's complement). */
  readVarint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      const byte = this.byte();
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return BigInt.asIntN(64, result);
      shift += 7n;
    }
    throw new ProtobufError('varint longer than 10 bytes');
  }

  next(): WireField {
    const tag = this.readLength();
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    switch (wireType) {
      case 0:
        return { field, wireType, varint: this.readVarint() };
      case 1:
        return { field, wireType, bytes: this.take(8) };
      case 2:
        return { field, wireType, bytes: this.take(this.readLength()) };
      case 5:
        return { field, wireType, bytes: this.take(4) };
      default:
        throw new ProtobufError(`unsupported wire type ${wireType} (field ${field}) at byte ${this.pos}`);
    }
  }

  private byte(): number {
    const b = this.buf[this.pos++];
    if (b === undefined) throw new ProtobufError('truncated message');
    return b;
  }

  private take(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) throw new ProtobufError('truncated message');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}

/** Iterates the fields of one message. */
export function* fields(buf: Uint8Array): Generator<WireField> {
  const reader = new ProtobufReader(buf);
  while (!reader.done) yield reader.next();
}

const utf8 = new TextDecoder();

export function asString(f: WireField): string {
  return utf8.decode(f.bytes ?? new Uint8Array());
}

/** A repeated int64 field: packed (one length-delimited run) or one varint per occurrence. */
export function pushInts(f: WireField, out: number[]): void {
  if (f.wireType === 0) {
    out.push(Number(f.varint ?? 0n));
    return;
  }
  const reader = new ProtobufReader(f.bytes ?? new Uint8Array());
  while (!reader.done) out.push(Number(reader.readVarint()));
}

/** A repeated float field: packed (little-endian float32 run) or one fixed32 per occurrence. */
export function pushFloats(f: WireField, out: number[]): void {
  const bytes = f.bytes ?? new Uint8Array();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i + 4 <= bytes.byteLength; i += 4) out.push(view.getFloat32(i, true));
}

import { asString, fields, pushFloats, pushInts, ProtobufError } from './protobuf-reader.ts';

/**
 * The parts of an ONNX ModelProto the TensorFlow.js engine needs, decoded straight from the protobuf wire format
 * (field numbers from onnx/onnx.proto3): graph nodes with their attributes, float initializers, input and output names.
 */

export type AttributeValue =
  | { kind: 'float'; value: number }
  | { kind: 'int'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'floats'; value: number[] }
  | { kind: 'ints'; value: number[] }
  | { kind: 'tensor'; value: OnnxTensor };

export interface OnnxNode {
  name: string;
  opType: string;
  domain: string;
  /** Input value names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Map<string, AttributeValue>;
}

export interface OnnxTensor {
  name: string;
  dims: number[];
  /** Values as float32 (ints are converted: they only appear as small constants). */
  data: Float32Array;
}

export interface OnnxGraph {
  opsetVersion: number;
  nodes: OnnxNode[];
  initializers: Map<string, OnnxTensor>;
  inputs: string[];
  outputs: string[];
}

const DATA_TYPE = { FLOAT: 1, INT32: 6, INT64: 7, DOUBLE: 11 } as const;

/** Throws ProtobufError (caller adds the file name) when the bytes are not a ModelProto the engine can use. */
export function decodeOnnxModel(bytes: Uint8Array): OnnxGraph {
  let graphBytes: Uint8Array | undefined;
  let opsetVersion = 0;
  for (const f of fields(bytes)) {
    if (f.field === 7 && f.wireType === 2) graphBytes = f.bytes;
    else if (f.field === 8 && f.wireType === 2) opsetVersion = Math.max(opsetVersion, decodeOpset(f.bytes ?? new Uint8Array()));
  }
  if (graphBytes === undefined) throw new ProtobufError('no graph in the model (is this an ONNX file?)');
  return { opsetVersion, ...decodeGraph(graphBytes) };
}

function decodeOpset(bytes: Uint8Array): number {
  let domain = '';
  let version = 0;
  for (const f of fields(bytes)) {
    if (f.field === 1) domain = asString(f);
    else if (f.field === 2 && f.wireType === 0) version = Number(f.varint);
  }
  return domain === '' || domain === 'ai.onnx' ? version : 0;
}

function decodeGraph(bytes: Uint8Array): Omit<OnnxGraph, 'opsetVersion'> {
  const nodes: OnnxNode[] = [];
  const initializers = new Map<string, OnnxTensor>();
  const inputs: string[] = [];
  const outputs: string[] = [];
  for (const f of fields(bytes)) {
    if (f.wireType !== 2 || f.bytes === undefined) continue;
    if (f.field === 1) nodes.push(decodeNode(f.bytes));
    else if (f.field === 5) {
      const tensor = decodeTensor(f.bytes);
      initializers.set(tensor.name, tensor);
    } else if (f.field === 11) inputs.push(valueInfoName(f.bytes));
    else if (f.field === 12) outputs.push(valueInfoName(f.bytes));
  }
  // Older exporters list initializers among the inputs too; only the others are fed by the caller.
  return { nodes, initializers, inputs: inputs.filter((name) => !initializers.has(name)), outputs };
}

function valueInfoName(bytes: Uint8Array): string {
  for (const f of fields(bytes)) if (f.field === 1) return asString(f);
  return '';
}

function decodeNode(bytes: Uint8Array): OnnxNode {
  const node: OnnxNode = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: new Map() };
  for (const f of fields(bytes)) {
    switch (f.field) {
      case 1: node.inputs.push(asString(f)); break;
      case 2: node.outputs.push(asString(f)); break;
      case 3: node.name = asString(f); break;
      case 4: node.opType = asString(f); break;
      case 7: node.domain = asString(f); break;
      case 5: {
        const [name, value] = decodeAttribute(f.bytes ?? new Uint8Array());
        if (value !== undefined) node.attributes.set(name, value);
        break;
      }
    }
  }
  return node;
}

function decodeAttribute(bytes: Uint8Array): [string, AttributeValue | undefined] {
  let name = '';
  let type = 0;
  let f32: number | undefined;
  let i64: number | undefined;
  let str: string | undefined;
  let tensor: OnnxTensor | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  for (const f of fields(bytes)) {
    switch (f.field) {
      case 1: name = asString(f); break;
      case 2: f32 = readFloat32(f.bytes); break;
      case 3: i64 = Number(f.varint ?? 0n); break;
      case 4: str = asString(f); break;
      case 5: tensor = decodeTensor(f.bytes ?? new Uint8Array()); break;
      case 7: pushFloats(f, floats); break;
      case 8: pushInts(f, ints); break;
      case 20: type = Number(f.varint ?? 0n); break;
    }
  }
  // AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
  switch (type) {
    case 1: return [name, { kind: 'float', value: f32 ?? 0 }];
    case 2: return [name, { kind: 'int', value: i64 ?? 0 }];
    case 3: return [name, { kind: 'string', value: str ?? '' }];
    case 4: return [name, tensor === undefined ? undefined : { kind: 'tensor', value: tensor }];
    case 6: return [name, { kind: 'floats', value: floats }];
    case 7: return [name, { kind: 'ints', value: ints }];
    default: return [name, undefined];
  }
}

function readFloat32(bytes: Uint8Array | undefined): number {
  if (bytes === undefined || bytes.byteLength < 4) return 0;
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
}

function decodeTensor(bytes: Uint8Array): OnnxTensor {
  const dims: number[] = [];
  let dataType = 0;
  let name = '';
  let raw: Uint8Array | undefined;
  const floatData: number[] = [];
  const intData: number[] = [];
  let external = false;
  for (const f of fields(bytes)) {
    switch (f.field) {
      case 1: pushInts(f, dims); break;
      case 2: dataType = Number(f.varint ?? 0n); break;
      case 4: pushFloats(f, floatData); break;
      case 5: case 7: pushInts(f, intData); break;
      case 8: name = asString(f); break;
      case 9: raw = f.bytes; break;
      case 13: external = true; break;
    }
  }
  if (external) throw new ProtobufError(`tensor '${name}' keeps its data in an external file (not supported)`);
  const count = dims.reduce((a, b) => a * b, 1);
  let data: Float32Array;
  if (raw !== undefined) data = fromRaw(raw, dataType, name);
  else if (dataType === DATA_TYPE.FLOAT) data = Float32Array.from(floatData);
  else if (dataType === DATA_TYPE.INT64 || dataType === DATA_TYPE.INT32) data = Float32Array.from(intData);
  else throw new ProtobufError(`tensor '${name}' has data type ${dataType} (only float32 and integer constants are supported)`);
  if (data.length !== count) throw new ProtobufError(`tensor '${name}' has ${data.length} values for dims [${dims.join(', ')}]`);
  return { name, dims, data };
}

function fromRaw(raw: Uint8Array, dataType: number, name: string): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const read = (size: number, get: (offset: number) => number): Float32Array => {
    const out = new Float32Array(raw.byteLength / size);
    for (let i = 0; i < out.length; i++) out[i] = get(i * size);
    return out;
  };
  switch (dataType) {
    case DATA_TYPE.FLOAT:
      return read(4, (o) => view.getFloat32(o, true));
    case DATA_TYPE.DOUBLE:
      return read(8, (o) => view.getFloat64(o, true));
    case DATA_TYPE.INT32:
      return read(4, (o) => view.getInt32(o, true));
    case DATA_TYPE.INT64:
      return read(8, (o) => Number(view.getBigInt64(o, true)));
    default:
      throw new ProtobufError(`tensor '${name}' has data type ${dataType} (only float32 and integer constants are supported)`);
  }
}

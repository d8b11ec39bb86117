import type * as tfjs from '@tensorflow/tfjs';
import { ModelFileError, UnsupportedOperatorError } from '../errors.ts';
import type { AttributeValue, OnnxGraph, OnnxNode, OnnxTensor } from './onnx-model.ts';

/**
 * Runs a decoded ONNX graph with TensorFlow.js ops: the interpreter behind the tfjs engine, limited to the operator
 * list of docs/model-format.md.
 *
 * Layout: ONNX is channels-first (NCHW, NCL); TensorFlow.js convolutions and pools are channels-last. Activations
 * therefore live channels-last ("cl": [N, H, W, C], a 1-D signal as [N, 1, L, C]) from the first Conv or pool on,
 * and only go back to the ONNX layout where an op needs it (Flatten of a map larger than 1x1, graph outputs).
 * Constants that meet a channels-last activation in Add/Mul are converted once and cached.
 */

export type Tf = typeof tfjs;
type Tensor = tfjs.Tensor;
type Tensor4D = tfjs.Tensor4D;
type Padding = [[number, number], [number, number], [number, number], [number, number]];

/** A graph value with its layout: 'onnx' = as the ONNX graph defines it, 'cl' = channels-last 4-D. */
export interface GraphValue {
  tensor: Tensor;
  layout: 'onnx' | 'cl';
  /** Spatial dimensions in ONNX terms (2 for NCHW, 1 for NCL, 0 for [N, C]). */
  spatialRank: number;
}

type Step = (values: Map<string, GraphValue>) => void;

export const SUPPORTED_OPS: readonly string[] = [
  'Conv', 'Relu', 'Clip', 'Sigmoid', 'Add', 'Mul', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Flatten', 'Gemm',
  'MatMul', 'Identity', 'BatchNormalization',
];

export class TfjsGraph {
  private readonly steps: Step[] = [];
  /** Weights converted for TensorFlow.js at load time; freed by dispose(). */
  private readonly owned: Tensor[] = [];
  private readonly constants = new Map<string, OnnxTensor>();
  private readonly clConstants = new Map<string, Tensor>();

  constructor(
    private readonly tf: Tf,
    private readonly graph: OnnxGraph,
    private readonly file: string,
  ) {
    for (const [name, t] of graph.initializers) this.constants.set(name, t);
    // Intermediates of weight preparation are freed by tidy; the prepared weights survive through keep().
    tf.tidy(() => this.compile());
  }

  get inputName(): string {
    return this.graph.inputs[0] ?? '';
  }

  get outputNames(): readonly string[] {
    return this.graph.outputs;
  }

  /**
   * Runs the graph on `input`; returns the graph outputs (logits in ONNX layout, features as they come). Intermediate
   * tensors are freed; the returned ones belong to the caller.
   */
  run(input: GraphValue): Map<string, GraphValue> {
    const meta: Omit<GraphValue, 'tensor'>[] = [];
    const tensors = this.tf.tidy(() => {
      const values = new Map<string, GraphValue>([[this.inputName, input]]);
      for (const step of this.steps) step(values);
      return this.graph.outputs.map((name) => {
        const value = values.get(name);
        if (value === undefined) throw new ModelFileError(this.file, `graph output '${name}' is never computed`);
        meta.push({ layout: value.layout, spatialRank: value.spatialRank });
        return value.tensor;
      });
    });
    return new Map(this.graph.outputs.map((name, i) => [name, { ...(meta[i] as Omit<GraphValue, 'tensor'>), tensor: tensors[i] as Tensor }]));
  }

  /** Converts a value to the ONNX layout (e.g. logits before reading them). Call inside tidy or dispose the result. */
  toOnnx(value: GraphValue): GraphValue {
    const { tf } = this;
    if (value.layout === 'onnx') return value;
    const t = value.tensor as Tensor4D;
    if (value.spatialRank === 2) return { tensor: tf.transpose(t, [0, 3, 1, 2]), layout: 'onnx', spatialRank: 2 };
    const [n, , l, c] = t.shape;
    return { tensor: tf.transpose(tf.reshape(t, [n, l, c]), [0, 2, 1]), layout: 'onnx', spatialRank: 1 };
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    for (const t of this.clConstants.values()) t.dispose();
    this.owned.length = 0;
    this.clConstants.clear();
    this.constantValues.clear();
  }

  // ---- compilation: one closure per node, weights prepared once ----

  private compile(): void {
    const consumers = new Map<string, number>();
    for (const node of this.graph.nodes) for (const name of node.inputs) consumers.set(name, (consumers.get(name) ?? 0) + 1);
    for (const name of this.graph.outputs) consumers.set(name, (consumers.get(name) ?? 0) + 1);
    const fused = new Set<OnnxNode>();
    this.graph.nodes.forEach((node, i) => {
      if (fused.has(node)) return;
      if (node.domain !== '' && node.domain !== 'ai.onnx') throw new UnsupportedOperatorError(this.file, `${node.domain}.${node.opType}`, node.name);
      if (!SUPPORTED_OPS.includes(node.opType)) throw new UnsupportedOperatorError(this.file, node.opType, node.name);
      if (node.opType === 'Conv') {
        // Conv followed by its only consumer Relu / Clip(0, 6) runs as one fused kernel.
        const next = this.graph.nodes[i + 1];
        const out = node.outputs[0] ?? '';
        let activation: 'linear' | 'relu' | 'relu6' = 'linear';
        if (next !== undefined && consumers.get(out) === 1 && next.inputs[0] === out) {
          if (next.opType === 'Relu') activation = 'relu';
          else if (next.opType === 'Clip' && this.clipBounds(next).join() === '0,6') activation = 'relu6';
          if (activation !== 'linear') {
            fused.add(next);
            this.steps.push(this.conv(node, activation, next.outputs[0] ?? ''));
            return;
          }
        }
        this.steps.push(this.conv(node, 'linear', out));
        return;
      }
      this.steps.push(this.step(node));
    });
  }

  private step(node: OnnxNode): Step {
    const { tf } = this;
    const out = node.outputs[0] ?? '';
    const unary = (f: (t: Tensor) => Tensor): Step => (values) => {
      const x = this.value(values, node, 0);
      values.set(out, { ...x, tensor: f(x.tensor) });
    };
    switch (node.opType) {
      case 'Relu':
        return unary((t) => tf.relu(t));
      case 'Sigmoid':
        return unary((t) => tf.sigmoid(t));
      case 'Identity':
        return unary((t) => t);
      case 'Clip': {
        const [lo, hi] = this.clipBounds(node);
        return unary((t) => tf.clipByValue(t, lo, hi));
      }
      case 'Add':
        return this.binary(node, (a, b) => tf.add(a, b));
      case 'Mul':
        return this.binary(node, (a, b) => tf.mul(a, b));
      case 'MaxPool':
      case 'AveragePool':
        return this.pool(node);
      case 'GlobalAveragePool':
        return (values) => {
          const x = this.value(values, node, 0);
          const axes = x.layout === 'cl' ? [1, 2] : range(2, x.tensor.rank);
          values.set(out, { ...x, tensor: tf.mean(x.tensor, axes, true) });
        };
      case 'Flatten':
        return this.flatten(node);
      case 'Gemm':
        return this.gemm(node);
      case 'MatMul':
        return this.matMul(node);
      case 'BatchNormalization':
        return this.batchNorm(node);
      default:
        throw new UnsupportedOperatorError(this.file, node.opType, node.name);
    }
  }

  private conv(node: OnnxNode, activation: 'linear' | 'relu' | 'relu6', out: string): Step {
    const { tf } = this;
    const w = this.constant(node, 1);
    const bias = node.inputs[2] ? this.keep(tf.tensor1d(this.constant(node, 2).data)) : undefined;
    const spatial = w.dims.length - 2;
    if (spatial !== 1 && spatial !== 2) this.fail(node, `Conv with ${spatial} spatial dimensions (only 1-D and 2-D)`);
    const group = this.int(node, 'group', 1);
    const [outChannels = 0, inPerGroup = 0] = w.dims;
    const [kh, kw] = spatial === 2 ? [w.dims[2] ?? 1, w.dims[3] ?? 1] : [1, w.dims[2] ?? 1];
    const { strides, dilations, padding } = this.window(node, spatial);
    const depthwise = group > 1 && inPerGroup === 1;
    if (group !== 1 && !depthwise) this.fail(node, `Conv with group=${group} (only 1 or depthwise)`);
    // ONNX weights [O, I/g, kh, kw] -> TensorFlow.js [kh, kw, I, O] (depthwise: [kh, kw, C, multiplier]).
    const w4 = tf.tensor4d(w.data, [outChannels, inPerGroup, kh, kw]);
    const filter = this.keep(
      depthwise
        ? tf.transpose(tf.reshape(w4, [group, outChannels / group, kh, kw]), [2, 3, 0, 1])
        : tf.transpose(w4, [2, 3, 1, 0]),
    ) as Tensor4D;
    w4.dispose();
    // TensorFlow.js refuses stride > 1 together with dilation > 1: run at stride 1 and subsample.
    const subsample = strides.some((s) => s > 1) && dilations.some((d) => d > 1);
    const convStrides: [number, number] = subsample ? [1, 1] : strides;
    const padded = padding.some(([a, b]) => a > 0 || b > 0);
    return (values) => {
      let x = this.toCl(this.value(values, node, 0));
      let y: Tensor4D;
      if (depthwise) {
        // The fused depthwise kernel takes no explicit padding: pad first.
        const input = padded ? tf.pad(x.tensor as Tensor4D, padding) : (x.tensor as Tensor4D);
        y = tf.fused.depthwiseConv2d({ x: input, filter, strides: convStrides, pad: 'valid', dilations, bias, activation });
      } else {
        y = tf.fused.conv2d({ x: x.tensor as Tensor4D, filter, strides: convStrides, pad: padding, dilations, bias, activation });
      }
      if (subsample) {
        const [n, h, wd, c] = y.shape;
        y = tf.stridedSlice(y, [0, 0, 0, 0], [n, h, wd, c], [1, strides[0], strides[1], 1]) as Tensor4D;
      }
      x = { tensor: y, layout: 'cl', spatialRank: spatial };
      values.set(out, x);
    };
  }

  private pool(node: OnnxNode): Step {
    const { tf } = this;
    const out = node.outputs[0] ?? '';
    const kernel = this.ints(node, 'kernel_shape');
    const spatial = kernel.length;
    if (spatial !== 1 && spatial !== 2) this.fail(node, `${node.opType} with ${spatial} spatial dimensions`);
    if (this.int(node, 'ceil_mode', 0) !== 0) this.fail(node, `${node.opType} with ceil_mode=1`);
    const size: [number, number] = spatial === 2 ? [kernel[0] ?? 1, kernel[1] ?? 1] : [1, kernel[0] ?? 1];
    const { strides, dilations, padding } = this.window(node, spatial);
    if (dilations.some((d) => d !== 1)) this.fail(node, `${node.opType} with dilations`);
    const padded = padding.some(([a, b]) => a > 0 || b > 0);
    const max = node.opType === 'MaxPool';
    const includePad = this.int(node, 'count_include_pad', 0) === 1;
    return (values) => {
      const x = this.toCl(this.value(values, node, 0));
      const t = x.tensor as Tensor4D;
      let y: Tensor4D;
      if (max) {
        y = tf.maxPool(padded ? tf.pad(t, padding, -3.4e38) : t, size, strides, 'valid');
      } else if (!padded || includePad) {
        y = tf.avgPool(padded ? tf.pad(t, padding) : t, size, strides, 'valid');
      } else {
        // Average over the real (unpadded) elements only: sum of values / count of real elements per window.
        const [, h, w] = t.shape;
        const ones = tf.pad(tf.ones([1, h, w, 1]) as Tensor4D, padding);
        y = tf.div(tf.avgPool(tf.pad(t, padding), size, strides, 'valid'), tf.avgPool(ones, size, strides, 'valid'));
      }
      values.set(out, { tensor: y, layout: 'cl', spatialRank: spatial });
    };
  }

  private flatten(node: OnnxNode): Step {
    const { tf } = this;
    const out = node.outputs[0] ?? '';
    const axis = this.int(node, 'axis', 1);
    return (values) => {
      let x = this.value(values, node, 0);
      // A channels-last map with 1x1 spatial size flattens to the same order as channels-first: skip the transpose.
      if (x.layout === 'cl' && !(axis === 1 && x.tensor.shape[1] === 1 && x.tensor.shape[2] === 1)) x = this.toOnnx(x);
      const shape = x.layout === 'cl' ? [x.tensor.shape[0] ?? 1, x.tensor.shape[3] ?? 1] : x.tensor.shape;
      const a = axis < 0 ? axis + shape.length : axis;
      const rows = shape.slice(0, a).reduce((p, d) => p * d, 1);
      values.set(out, { tensor: tf.reshape(x.tensor, [rows, -1]), layout: 'onnx', spatialRank: 0 });
    };
  }

  private gemm(node: OnnxNode): Step {
    const { tf } = this;
    const out = node.outputs[0] ?? '';
    const alpha = this.float(node, 'alpha', 1);
    const beta = this.float(node, 'beta', 1);
    const transA = this.int(node, 'transA', 0) === 1;
    const transB = this.int(node, 'transB', 0) === 1;
    const b = this.constant(node, 1);
    let weights = tf.tensor2d(b.data, [b.dims[0] ?? 1, b.dims[1] ?? 1]);
    if (transB) weights = tf.transpose(weights);
    if (alpha !== 1) weights = tf.mul(weights, alpha);
    const kernel = this.keep(weights);
    let bias: Tensor | undefined;
    if (node.inputs[2]) {
      const c = this.constant(node, 2);
      bias = this.keep(tf.mul(tf.tensor(c.data, c.dims.length > 0 ? c.dims : [1]), beta));
    }
    return (values) => {
      const a = this.plain(this.value(values, node, 0)).tensor as tfjs.Tensor2D;
      const y = tf.matMul(a, kernel as tfjs.Tensor2D, transA, false);
      values.set(out, { tensor: bias === undefined ? y : tf.add(y, bias), layout: 'onnx', spatialRank: 0 });
    };
  }

  private matMul(node: OnnxNode): Step {
    const { tf } = this;
    const out = node.outputs[0] ?? '';
    return (values) => {
      const a = this.plain(this.value(values, node, 0)).tensor;
      const b = this.plain(this.value(values, node, 1)).tensor;
      if (a.rank !== 2 || b.rank !== 2) this.fail(node, `MatMul of rank ${a.rank} x ${b.rank} (only 2-D)`);
      values.set(out, { tensor: tf.matMul(a as tfjs.Tensor2D, b as tfjs.Tensor2D), layout: 'onnx', spatialRank: 0 });
    };
  }

  private batchNorm(node: OnnxNode): Step {
    const { tf } = this;
    const out = node.outputs[0] ?? '';
    const epsilon = this.float(node, 'epsilon', 1e-5);
    const [scale, shift, mean, variance] = [1, 2, 3, 4].map((i) => this.constant(node, i).data);
    // y = (x - mean) / sqrt(var + eps) * scale + shift = x * k + (shift - mean * k): one multiply-add per channel.
    const k = new Float32Array(scale?.length ?? 0);
    const c = new Float32Array(k.length);
    for (let i = 0; i < k.length; i++) {
      k[i] = (scale?.[i] ?? 1) / Math.sqrt((variance?.[i] ?? 1) + epsilon);
      c[i] = (shift?.[i] ?? 0) - (mean?.[i] ?? 0) * (k[i] as number);
    }
    const mul = this.keep(tf.tensor1d(k));
    const add = this.keep(tf.tensor1d(c));
    return (values) => {
      let x = this.value(values, node, 0);
      // Per-channel vectors broadcast on the last axis: channels-last maps and [N, C] matrices.
      if (x.layout === 'onnx' && x.tensor.rank > 2) x = this.toCl(x);
      values.set(out, { ...x, tensor: tf.add(tf.mul(x.tensor, mul), add) });
    };
  }

  private binary(node: OnnxNode, f: (a: Tensor, b: Tensor) => Tensor): Step {
    const out = node.outputs[0] ?? '';
    return (values) => {
      let a = this.value(values, node, 0);
      let b = this.value(values, node, 1);
      if (a.layout === 'cl' && b.layout === 'onnx') b = this.alignTo(b, a, node.inputs[1] ?? '');
      else if (b.layout === 'cl' && a.layout === 'onnx') a = this.alignTo(a, b, node.inputs[0] ?? '');
      const like = a.layout === 'cl' ? a : b.layout === 'cl' ? b : a.tensor.rank >= b.tensor.rank ? a : b;
      values.set(out, { tensor: f(a.tensor, b.tensor), layout: like.layout, spatialRank: like.spatialRank });
    };
  }

  // ---- layouts ----

  private toCl(x: GraphValue): GraphValue {
    const { tf } = this;
    if (x.layout === 'cl') return x;
    const t = x.tensor;
    if (t.rank === 4) return { tensor: tf.transpose(t, [0, 2, 3, 1]), layout: 'cl', spatialRank: 2 };
    if (t.rank === 3) {
      const [n = 1, c = 1, l = 1] = t.shape;
      return { tensor: tf.transpose(tf.reshape(t, [n, c, 1, l]), [0, 2, 3, 1]), layout: 'cl', spatialRank: 1 };
    }
    throw new ModelFileError(this.file, `cannot run a spatial op on a rank-${t.rank} value`);
  }

  private plain(x: GraphValue): GraphValue {
    return x.layout === 'cl' ? this.toOnnx(x) : x;
  }

  /** An ONNX-layout operand broadcast against a channels-last one: pad its rank, then reorder it the same way. */
  private alignTo(x: GraphValue, like: GraphValue, name: string): GraphValue {
    const cached = this.clConstants.get(`${name}/${like.spatialRank}`);
    if (cached !== undefined) return { tensor: cached, layout: 'cl', spatialRank: like.spatialRank };
    const rank = like.spatialRank + 2;
    const shape = [...new Array<number>(Math.max(0, rank - x.tensor.rank)).fill(1), ...x.tensor.shape];
    const aligned = this.toCl({ tensor: this.tf.reshape(x.tensor, shape), layout: 'onnx', spatialRank: like.spatialRank });
    if (this.constants.has(name)) this.clConstants.set(`${name}/${like.spatialRank}`, this.tf.keep(aligned.tensor));
    return aligned;
  }

  // ---- node inputs and attributes ----

  private value(values: Map<string, GraphValue>, node: OnnxNode, i: number): GraphValue {
    const name = node.inputs[i] ?? '';
    const v = values.get(name) ?? this.constantValue(name);
    if (v === undefined) throw new ModelFileError(this.file, `node '${node.name}' (${node.opType}) reads '${name}', which is never computed`);
    return v;
  }

  /** A weight used as an ordinary operand (MatMul, Add, Mul): made a tensor once, on first use, and kept. */
  private constantValue(name: string): GraphValue | undefined {
    const cached = this.constantValues.get(name);
    if (cached !== undefined) return cached;
    const c = this.constants.get(name);
    if (c === undefined) return undefined;
    const tensor = this.keep(this.tf.tensor(c.data, c.dims));
    const value: GraphValue = { tensor, layout: 'onnx', spatialRank: Math.max(0, c.dims.length - 2) };
    this.constantValues.set(name, value);
    return value;
  }

  private readonly constantValues = new Map<string, GraphValue>();

  private constant(node: OnnxNode, i: number): OnnxTensor {
    const name = node.inputs[i] ?? '';
    const c = this.graph.initializers.get(name);
    if (c === undefined) this.fail(node, `input ${i + 1} ('${name}') must be a constant weight`);
    return c;
  }

  private clipBounds(node: OnnxNode): [number, number] {
    const bound = (i: number, attr: string, fallback: number): number => {
      if (node.inputs[i]) return this.constant(node, i).data[0] ?? fallback;
      return this.float(node, attr, fallback);
    };
    return [bound(1, 'min', -3.4e38), bound(2, 'max', 3.4e38)];
  }

  private window(node: OnnxNode, spatial: number) {
    const autoPad = this.attr(node, 'auto_pad');
    if (autoPad?.kind === 'string' && autoPad.value !== 'NOTSET' && autoPad.value !== 'VALID') {
      this.fail(node, `auto_pad=${autoPad.value} (export with explicit pads)`);
    }
    const two = (v: number[], fill: number): [number, number] =>
      spatial === 2 ? [v[0] ?? fill, v[1] ?? fill] : [1, v[0] ?? fill];
    const strides = two(this.ints(node, 'strides'), 1);
    const dilations = two(this.ints(node, 'dilations'), 1);
    const p = this.ints(node, 'pads');
    const [top, left, bottom, right] = spatial === 2 ? [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 0] : [0, p[0] ?? 0, 0, p[1] ?? 0];
    const padding: Padding = [[0, 0], [top, bottom], [left, right], [0, 0]];
    return { strides, dilations, padding };
  }

  private attr(node: OnnxNode, name: string): AttributeValue | undefined {
    return node.attributes.get(name);
  }

  private int(node: OnnxNode, name: string, fallback: number): number {
    const a = this.attr(node, name);
    return a?.kind === 'int' ? a.value : fallback;
  }

  private float(node: OnnxNode, name: string, fallback: number): number {
    const a = this.attr(node, name);
    return a?.kind === 'float' ? a.value : a?.kind === 'int' ? a.value : fallback;
  }

  private ints(node: OnnxNode, name: string): number[] {
    const a = this.attr(node, name);
    return a?.kind === 'ints' ? a.value : [];
  }

  private keep<T extends Tensor>(t: T): T {
    this.owned.push(t);
    return this.tf.keep(t);
  }

  private fail(node: OnnxNode, problem: string): never {
    throw new ModelFileError(this.file, `node '${node.name}': ${problem} is not supported by the tfjs engine`);
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

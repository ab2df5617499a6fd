import type { Node } from '../../autodiff/index.js';
import { DTypeError, ShapeError } from '../../errors.js';
import * as ops from '../../ops/index.js';
import { formatShape, sizeOf, Tensor } from '../../tensor/index.js';
import type { BnMode, ForwardContext } from '../module.js';
import type { AttributeValue, GraphNode, LiteralTensor } from './description.js';
import { UnsupportedGraphError } from './errors.js';
import { broadcastIndex, Const, constBinary, constTake, fromNode, intsOf, isConst, scalarOf, toNode, type Value } from './values.js';

export interface GraphContext {
  opset: number;
  mode: BnMode;
  bnStats: ForwardContext['bnStats'];
  /** the name a BatchNormalization node's statistics are recorded under */
  bnLayer(node: GraphNode): string;
}

type Inputs = readonly (Value | undefined)[];
export type OperatorImpl = (inputs: Inputs, node: GraphNode, ctx: GraphContext) => (Value | undefined)[];

// ---------- attributes ----------

function attr(node: GraphNode, name: string): AttributeValue | undefined {
  return node.attrs[name];
}
function attrInt(node: GraphNode, name: string, fallback: number): number {
  const v = attr(node, name);
  return typeof v === 'number' ? v : fallback;
}
function attrInts(node: GraphNode, name: string): number[] | undefined {
  const v = attr(node, name);
  return Array.isArray(v) ? (v as number[]) : typeof v === 'number' ? [v] : undefined;
}
function attrString(node: GraphNode, name: string, fallback: string): string {
  const v = attr(node, name);
  return typeof v === 'string' ? v : fallback;
}

function unsupported(node: GraphNode, what: string): never {
  throw new UnsupportedGraphError(`node '${node.name}' (${node.op}): ${what} is not supported`);
}

function axisOf(a: number, rank: number, node: GraphNode): number {
  const ax = a < 0 ? a + rank : a;
  if (ax < 0 || ax >= rank) throw new ShapeError(`node '${node.name}' (${node.op}): axis ${a} is out of range for rank ${rank}`);
  return ax;
}

// ---------- index maps shared by constants and nodes ----------

const strides = ops.stridesOf;
const indexOver = ops.indexOver;

function pick(v: Value, index: Int32Array, shape: number[]): Value {
  return isConst(v) ? constTake(v, index, shape) : ops.take(v, index, shape);
}

function reshaped(v: Value, shape: number[]): Value {
  return isConst(v) ? new Const(v.dtype, shape, v.data) : ops.reshape(v, shape);
}

function permuted(v: Value, perm: number[]): Value {
  if (!isConst(v)) return ops.permute(v, perm);
  const st = strides(v.shape);
  const outShape = perm.map((p) => v.shape[p]!);
  return constTake(v, indexOver(outShape, (c) => c.reduce((o, ci, i) => o + ci * st[perm[i]!]!, 0)), outShape);
}

function sliced(v: Value, start: number[], step: number[], count: number[]): Value {
  if (!isConst(v)) return ops.slice(v, { start, step, count });
  const st = strides(v.shape);
  return constTake(v, indexOver(count, (c) => c.reduce((o, ci, i) => o + (start[i]! + ci * step[i]!) * st[i]!, 0)), count);
}

function broadcasted(v: Value, shape: number[]): Value {
  return isConst(v) ? constTake(v, broadcastIndex(v.shape, shape), shape) : ops.broadcastTo(v, shape);
}

function concatenated(parts: Value[], axis: number, node: GraphNode): Value {
  const nonEmpty = parts.filter((p) => sizeOf(p.shape) > 0);
  const use = nonEmpty.length > 0 ? nonEmpty : parts.slice(0, 1);
  if (use.every(isConst)) {
    const first = use[0]!.shape;
    const outShape = [...first];
    outShape[axis] = use.reduce((s, p) => s + p.shape[axis]!, 0);
    for (const p of use) {
      if (p.shape.length !== first.length || p.shape.some((d, i) => i !== axis && d !== first[i])) {
        throw new ShapeError(`node '${node.name}' (Concat): shapes ${use.map((q) => formatShape(q.shape)).join(', ')} differ off axis ${axis}`);
      }
    }
    const dtype = use.some((p) => p.dtype === 'float') ? 'float' : use[0]!.dtype;
    const data: number[] = [];
    const outer = first.slice(0, axis).reduce((a, b) => a * b, 1);
    for (let o = 0; o < outer; o++) {
      for (const p of use) {
        const w = sizeOf(p.shape) / outer;
        for (let i = 0; i < w; i++) data.push(p.data[o * w + i]!);
      }
    }
    return Const.of(dtype, outShape, data);
  }
  return ops.concat(use.map(toNode), axis);
}

// ---------- elementwise ----------

type Arith = 'add' | 'sub' | 'mul' | 'div';
const intArith: Record<Arith, (x: number, y: number) => number> = {
  add: (x, y) => x + y,
  sub: (x, y) => x - y,
  mul: (x, y) => x * y,
  div: (x, y) => Math.trunc(x / y),
};

function arithmetic(kind: Arith): OperatorImpl {
  const plain = arithmeticValue(kind);
  if (kind !== 'add') return plain;
  // an Add with the Relu after it folded in (attribute _relu, set at import): relu(a + b) as one primitive
  return (inputs, node, ctx) => {
    if (attrInt(node, '_relu', 0) !== 1) return plain(inputs, node, ctx);
    const [a, b] = inputs;
    if (a && b && !isConst(a) && !isConst(b)) return [fromNode(ops.addRelu(toNode(a), toNode(b)))];
    return unary(ops.relu)(plain(inputs, node, ctx), node, ctx);
  };
}

function arithmeticValue(kind: Arith): OperatorImpl {
  return ([a, b], node) => {
    if (!a || !b) throw new ShapeError(`node '${node.name}' (${node.op}) needs two inputs`);
    if (isConst(a) && isConst(b) && (a.dtype !== 'float' || b.dtype !== 'float')) {
      const float = a.dtype === 'float' || b.dtype === 'float';
      return [constBinary(a, b, float ? 'float' : 'int', float && kind === 'div' ? (x, y) => x / y : intArith[kind])];
    }
    // a scalar constant on one side: one primitive instead of a broadcast against a constant tensor
    if (!isConst(a) && isConst(b) && b.size === 1 && b.shape.length <= a.shape.length) {
      const c = b.data[0]!;
      if (kind === 'add') return [ops.addScalar(a, c)];
      if (kind === 'sub') return [ops.addScalar(a, -c)];
      if (kind === 'mul') return [ops.scale(a, c)];
      return [ops.scale(a, 1 / c)];
    }
    if (isConst(a) && !isConst(b) && a.size === 1 && a.shape.length <= b.shape.length) {
      const c = a.data[0]!;
      if (kind === 'add') return [ops.addScalar(b, c)];
      if (kind === 'mul') return [ops.scale(b, c)];
      if (kind === 'sub') return [ops.addScalar(ops.scale(b, -1), c)];
    }
    return [fromNode(ops[kind](toNode(a), toNode(b)))];
  };
}

function unary(f: (x: Node) => Node): OperatorImpl {
  return ([x], node) => {
    if (!x) throw new ShapeError(`node '${node.name}' (${node.op}) needs an input`);
    if (isConst(x) && x.dtype !== 'float') throw new DTypeError(`node '${node.name}' (${node.op}): the input is ${x.dtype}, a float is needed`);
    return [fromNode(f(toNode(x)))];
  };
}

function compare(f: (x: number, y: number) => boolean): OperatorImpl {
  return ([a, b], node) => {
    if (!isConst(a) || !isConst(b)) throw new DTypeError(`node '${node.name}' (${node.op}): a comparison of values that depend on the parameters has no derivative`);
    return [constBinary(a, b, 'bool', (x, y) => (f(x, y) ? 1 : 0))];
  };
}

function logical(f: (x: boolean, y: boolean) => boolean): OperatorImpl {
  return ([a, b], node) => {
    if (!isConst(a) || !isConst(b)) throw new DTypeError(`node '${node.name}' (${node.op}) needs constant inputs`);
    return [constBinary(a, b, 'bool', (x, y) => (f(x !== 0, y !== 0) ? 1 : 0))];
  };
}

function leakyRelu(x: Node, alpha: number): Node {
  // αx + (1 − α)·relu(x): exactly the leaky ReLU, built from primitives that already have rules
  return ops.add(ops.scale(x, alpha), ops.scale(ops.relu(x), 1 - alpha));
}

function geluTanh(x: Node): Node {
  const inner = ops.scale(ops.add(x, ops.scale(ops.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return ops.mul(ops.scale(x, 0.5), ops.addScalar(ops.tanh(inner), 1));
}

/** log-softmax over `axis` of any tensor: the axis moved last, rows flattened, the 2-D primitive. */
function logSoftmaxAxis(x: Node, axis: number, legacy: boolean): Node {
  const r = x.shape.length;
  if (legacy) {
    // opsets before 13 flatten everything from `axis` on into the softmax's row
    const rows = x.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    return ops.reshape(ops.logSoftmax(ops.reshape(x, [rows, x.value.size / Math.max(rows, 1)])), x.shape);
  }
  const perm = [...Array(r).keys()].filter((i) => i !== axis).concat(axis);
  const moved = ops.permute(x, perm);
  const C = x.shape[axis]!;
  const y = ops.reshape(ops.logSoftmax(ops.reshape(moved, [moved.value.size / Math.max(C, 1), C])), moved.shape);
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return ops.permute(y, inverse);
}

function softmaxOp(log: boolean): OperatorImpl {
  return ([x], node, ctx) => {
    const legacy = ctx.opset < 13;
    const n = toNode(x!);
    const axis = axisOf(attrInt(node, 'axis', legacy ? 1 : -1), n.shape.length, node);
    const ls = logSoftmaxAxis(n, axis, legacy);
    return [fromNode(log ? ls : ops.exp(ls))];
  };
}

// ---------- shapes ----------

const FLOAT_TYPES = new Set([1, 10, 11, 16]);

function castType(to: number): 'float' | 'int' | 'bool' {
  return FLOAT_TYPES.has(to) ? 'float' : to === 9 ? 'bool' : 'int';
}

function axesInput(inputs: Inputs, node: GraphNode, index: number, ctx: GraphContext, attrSince: number): number[] | undefined {
  if (ctx.opset < attrSince) return attrInts(node, 'axes');
  const v = inputs[index];
  return v === undefined ? undefined : intsOf(v, `node '${node.name}' (${node.op}): axes`);
}

function reduce(kind: 'mean' | 'sum', axesFromInputSince: number): OperatorImpl {
  return (inputs, node, ctx) => {
    const x = toNode(inputs[0]!);
    const r = x.shape.length;
    let axes = axesInput(inputs, node, 1, ctx, axesFromInputSince);
    if (!axes || axes.length === 0) {
      if (attrInt(node, 'noop_with_empty_axes', 0) === 1) return [inputs[0]];
      axes = [...Array(r).keys()];
    }
    const ax = axes.map((a) => axisOf(a, r, node));
    const keep = attrInt(node, 'keepdims', 1) === 1;
    return [fromNode(kind === 'mean' ? ops.mean(x, ax, keep) : ops.sum(x, ax, keep))];
  };
}

function reshapeTarget(shape: number[], target: number[], allowZero: boolean, node: GraphNode): number[] {
  const out = target.map((d, i) => (d === 0 && !allowZero ? shape[i]! : d));
  const known = out.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const total = sizeOf(shape);
  const free = out.indexOf(-1);
  if (free >= 0) out[free] = known === 0 ? 0 : total / known;
  if (out.some((d) => !Number.isInteger(d) || d < 0) || sizeOf(out) !== total) {
    throw new ShapeError(`node '${node.name}' (Reshape): cannot reshape ${formatShape(shape)} to [${target.join(', ')}]`);
  }
  return out;
}

/** ONNX Slice's clamping rules, per axis: the first index, the step and how many elements. */
function sliceAxis(dim: number, start: number, end: number, step: number): { start: number; count: number } {
  if (step === 0) throw new ShapeError('Slice: a step of 0');
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = Math.min(Math.max(s, 0), dim);
    e = Math.min(Math.max(e, 0), dim);
    return { start: s, count: Math.max(0, Math.ceil((e - s) / step)) };
  }
  s = Math.min(Math.max(s, 0), dim - 1);
  e = Math.min(Math.max(e, -1), dim - 1);
  return { start: s, count: Math.max(0, Math.ceil((s - e) / -step)) };
}

function splitSizes(inputs: Inputs, node: GraphNode, ctx: GraphContext, dim: number): number[] {
  const given = ctx.opset >= 13 ? (inputs[1] !== undefined ? intsOf(inputs[1], `node '${node.name}' (Split): split`) : undefined) : attrInts(node, 'split');
  if (given) return given;
  const parts = ctx.opset >= 18 ? attrInt(node, 'num_outputs', node.outputs.length) : node.outputs.length;
  const size = Math.ceil(dim / parts);
  return Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(size, dim - i * size)));
}

function literalConst(t: AttributeValue | undefined, node: GraphNode): Const {
  if (t && typeof t === 'object' && !Array.isArray(t)) return Const.fromLiteral(t as LiteralTensor);
  throw new ShapeError(`node '${node.name}' (${node.op}) has no tensor value`);
}

function constantValue(node: GraphNode): Const {
  const a = node.attrs;
  if (a.value !== undefined) return literalConst(a.value, node);
  if (typeof a.value_float === 'number') return Const.of('float', [], [a.value_float]);
  if (Array.isArray(a.value_floats)) return Const.of('float', [a.value_floats.length], a.value_floats as number[]);
  if (typeof a.value_int === 'number') return Const.of('int', [], [a.value_int]);
  if (Array.isArray(a.value_ints)) return Const.of('int', [a.value_ints.length], a.value_ints as number[]);
  return unsupported(node, `a Constant with attributes ${Object.keys(a).join(', ') || 'none'}`);
}

// ---------- convolution, pooling, normalisation ----------

function convPads(node: GraphNode, inShape: number[], kernel: number[], stride: number[], dilation: number[]): number[] {
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  const k = kernel.length;
  if (autoPad === 'NOTSET') return attrInts(node, 'pads') ?? new Array<number>(2 * k).fill(0);
  if (autoPad === 'VALID') return new Array<number>(2 * k).fill(0);
  const pads = new Array<number>(2 * k).fill(0);
  for (let i = 0; i < k; i++) {
    const out = Math.ceil(inShape[i]! / stride[i]!);
    const total = Math.max(0, (out - 1) * stride[i]! + (kernel[i]! - 1) * dilation[i]! + 1 - inShape[i]!);
    const small = Math.floor(total / 2);
    pads[i] = autoPad === 'SAME_UPPER' ? small : total - small;
    pads[i + k] = total - pads[i]!;
  }
  return pads;
}

const conv: OperatorImpl = ([xv, wv, bv], node) => {
  let x = toNode(xv!), w = toNode(wv!);
  const r = x.shape.length;
  if (r !== 3 && r !== 4) unsupported(node, `a convolution over ${r - 2} spatial dimensions`);
  const oneD = r === 3;
  if (oneD) {
    x = ops.reshape(x, [x.shape[0]!, x.shape[1]!, 1, x.shape[2]!]);
    w = ops.reshape(w, [w.shape[0]!, w.shape[1]!, 1, w.shape[2]!]);
  }
  const spatial = oneD ? [x.shape[3]!] : x.shape.slice(2);
  const kernel = oneD ? [w.shape[3]!] : w.shape.slice(2);
  const stride = attrInts(node, 'strides') ?? kernel.map(() => 1);
  const dilation = attrInts(node, 'dilations') ?? kernel.map(() => 1);
  const pads = convPads(node, spatial, kernel, stride, dilation);
  const group = attrInt(node, 'group', 1);
  const opts: ops.GeneralConvOptions = oneD
    ? { stride: [1, stride[0]!], dilation: [1, dilation[0]!], pads: [0, pads[0]!, 0, pads[1]!], groups: group }
    : { stride: [stride[0]!, stride[1]!], dilation: [dilation[0]!, dilation[1]!], pads: [pads[0]!, pads[1]!, pads[2]!, pads[3]!], groups: group };
  let y = ops.convGeneral(x, w, opts, bv ? toNode(bv) : undefined);
  if (oneD) y = ops.reshape(y, [y.shape[0]!, y.shape[1]!, y.shape[3]!]);
  return [fromNode(y)];
};

function pool(kind: 'avg' | 'max'): OperatorImpl {
  return ([xv], node) => {
    const x = toNode(xv!);
    if (x.shape.length !== 4) unsupported(node, `pooling over ${x.shape.length - 2} spatial dimensions`);
    const kernel = attrInts(node, 'kernel_shape')!;
    const stride = attrInts(node, 'strides') ?? [1, 1];
    const dilation = attrInts(node, 'dilations') ?? [1, 1];
    const pads = convPads(node, x.shape.slice(2), kernel, stride, dilation);
    if (kernel[0] !== kernel[1] || stride[0] !== stride[1] || pads.some((p) => p !== pads[0])) {
      unsupported(node, `a pooling window ${kernel.join('x')} with strides ${stride.join(',')} and pads ${pads.join(',')} (only square windows, equal strides and equal padding are)`);
    }
    if (dilation.some((d) => d !== 1)) unsupported(node, 'dilated pooling');
    if (kind === 'avg' && pads[0]! > 0 && attrInt(node, 'count_include_pad', 0) === 0) unsupported(node, 'average pooling that leaves the padding out of the count (count_include_pad=0) with padding');
    const [k, s, p] = [kernel[0]!, stride[0]!, pads[0]!];
    if (attrInt(node, 'ceil_mode', 0) === 1) {
      const fits = x.shape.slice(2).every((d) => (d + 2 * p - k) % s === 0);
      if (!fits) unsupported(node, 'ceil_mode=1 where it changes the output size');
    }
    if (node.outputs.length > 1 && node.outputs[1]) unsupported(node, 'the Indices output of MaxPool');
    const opts = { kernel: k, stride: s, padding: p };
    return [fromNode(kind === 'avg' ? ops.avgPool2d(x, opts) : ops.maxPool2d(x, opts))];
  };
}

const batchNormalization: OperatorImpl = ([xv, scale, bias, meanV, varV], node, ctx) => {
  if (!isConst(meanV) || !isConst(varV)) throw new DTypeError(`node '${node.name}' (BatchNormalization): the running mean and variance must be constants`);
  const x = toNode(xv!);
  const [N, C] = x.shape as [number, number];
  const rest = x.value.size / Math.max(1, N * C);
  const x4 = x.shape.length === 4 ? x : ops.reshape(x, [N, C, rest, 1]);
  const asTensor = (c: Const) => new Tensor(c.shape, c.data instanceof Float32Array ? c.data : Float32Array.from(c.data));
  // with the Relu after it folded in (attribute _relu, set at import), batch norm + ReLU as one primitive
  const relu = attrInt(node, '_relu', 0) === 1;
  const r = ops.batchNorm2d(x4, toNode(scale!), toNode(bias!), asTensor(meanV), asTensor(varV), ctx.mode, (attr(node, 'epsilon') as number | undefined) ?? 1e-5, relu);
  if (r.batchMean && r.batchVar) ctx.bnStats.set(ctx.bnLayer(node), { mean: r.batchMean, variance: r.batchVar, count: x.value.size / C });
  const y = x.shape.length === 4 ? r.output : ops.reshape(r.output, x.shape);
  return [fromNode(y), meanV, varV];
};

const layerNormalization: OperatorImpl = ([xv, scale, bias], node) => {
  const x = toNode(xv!);
  const r = x.shape.length;
  const axis = axisOf(attrInt(node, 'axis', -1), r, node);
  const axes = [...Array(r).keys()].slice(axis);
  const eps = (attr(node, 'epsilon') as number | undefined) ?? 1e-5;
  const mu = ops.mean(x, axes, true);
  const centered = ops.sub(x, mu);
  const variance = ops.mean(ops.mul(centered, centered), axes, true);
  const invStd = ops.rsqrt(ops.addScalar(variance, eps));
  let y = ops.mul(centered, invStd);
  if (scale) y = ops.mul(y, toNode(scale));
  if (bias) y = ops.add(y, toNode(bias));
  return [fromNode(y), fromNode(mu), fromNode(invStd)];
};

// ---------- matrix products ----------

function matmul2(a: Node, b: Node, transB: boolean): Node {
  const K = a.shape.at(-1)!;
  const N = transB ? b.shape[0]! : b.shape[1]!;
  if (a.shape.length === 2) return ops.matmul(a, b, false, transB);
  const lead = a.shape.slice(0, -1);
  return ops.reshape(ops.matmul(ops.reshape(a, [a.value.size / K, K]), b, false, transB), [...lead, N]);
}

const matMul: OperatorImpl = ([av, bv], node) => {
  let a = toNode(av!), b = toNode(bv!);
  const transB = attrInt(node, '_transB', 0) === 1;
  const squeezeFirst = a.shape.length === 1, squeezeLast = b.shape.length === 1;
  if (squeezeFirst) a = ops.reshape(a, [1, a.shape[0]!]);
  if (squeezeLast) b = ops.reshape(b, transB ? [1, b.shape[0]!] : [b.shape[0]!, 1]);
  let y = b.shape.length === 2 ? matmul2(a, b, transB) : ops.batchMatmul(a, b, false, transB);
  if (squeezeFirst || squeezeLast) {
    const s = [...y.shape];
    if (squeezeLast) s.splice(s.length - 1, 1);
    if (squeezeFirst) s.splice(s.length - (squeezeLast ? 1 : 2), 1);
    y = ops.reshape(y, s);
  }
  return [fromNode(y)];
};

const gemm: OperatorImpl = ([av, bv, cv], node) => {
  const a = toNode(av!), b = toNode(bv!);
  const alpha = (attr(node, 'alpha') as number | undefined) ?? 1;
  const beta = (attr(node, 'beta') as number | undefined) ?? 1;
  const transA = attrInt(node, 'transA', 0) === 1, transB = attrInt(node, 'transB', 0) === 1;
  if (!transA && transB && alpha === 1 && beta === 1 && (!cv || cv.shape.length === 1)) return [fromNode(ops.linear(a, b, cv ? toNode(cv) : undefined))];
  let y = ops.matmul(a, b, transA, transB);
  if (alpha !== 1) y = ops.scale(y, alpha);
  if (cv) y = ops.add(y, beta === 1 ? toNode(cv) : ops.scale(toNode(cv), beta));
  return [fromNode(y)];
};

// ---------- the table ----------

const identity: OperatorImpl = ([x]) => [x];

export const operators: Record<string, OperatorImpl> = {
  Add: arithmetic('add'),
  Sub: arithmetic('sub'),
  Mul: arithmetic('mul'),
  Div: arithmetic('div'),
  Pow: ([a, b], node) => {
    if (isConst(b) && b.size === 1) {
      const p = b.data[0]!;
      const x = toNode(a!);
      return [fromNode(p === 1 ? x : p === 2 ? ops.mul(x, x) : ops.pow(x, p))];
    }
    if (!a || !b) throw new ShapeError(`node '${node.name}' (Pow) needs two inputs`);
    return [fromNode(ops.exp(ops.mul(toNode(b), ops.log(toNode(a)))))];
  },
  Sqrt: unary((x) => ops.pow(x, 0.5)),
  Reciprocal: unary((x) => ops.pow(x, -1)),
  Neg: (inputs, node, ctx) => {
    const x = inputs[0];
    if (isConst(x) && x.dtype !== 'float') return [Const.of(x.dtype, x.shape, Array.from(x.data, (v) => -v))];
    return unary((n) => ops.scale(n, -1))(inputs, node, ctx);
  },
  Exp: unary(ops.exp),
  Log: unary(ops.log),
  Relu: unary(ops.relu),
  LeakyRelu: (inputs, node, ctx) => unary((x) => leakyRelu(x, (attr(node, 'alpha') as number | undefined) ?? 0.01))(inputs, node, ctx),
  Sigmoid: unary(ops.sigmoid),
  Tanh: unary(ops.tanh),
  Softplus: unary(ops.softplus),
  Erf: unary(ops.erf),
  Gelu: (inputs, node, ctx) => unary(attrString(node, 'approximate', 'none') === 'tanh' ? geluTanh : ops.gelu)(inputs, node, ctx),
  Softmax: softmaxOp(false),
  LogSoftmax: softmaxOp(true),
  MatMul: matMul,
  Gemm: gemm,
  Conv: conv,
  BatchNormalization: batchNormalization,
  LayerNormalization: layerNormalization,
  ReduceMean: reduce('mean', 18),
  ReduceSum: reduce('sum', 13),
  GlobalAveragePool: ([x]) => {
    const n = toNode(x!);
    return [fromNode(ops.mean(n, [...Array(n.shape.length).keys()].slice(2), true))];
  },
  AveragePool: pool('avg'),
  MaxPool: pool('max'),
  Flatten: ([x], node) => {
    const s = x!.shape;
    const axis = attrInt(node, 'axis', 1);
    const ax = axis < 0 ? axis + s.length : axis;
    const rows = s.slice(0, ax).reduce((a, b) => a * b, 1);
    return [reshaped(x!, [rows, sizeOf(s) / Math.max(rows, 1)])];
  },
  Reshape: ([x, shape], node) => [reshaped(x!, reshapeTarget([...x!.shape], intsOf(shape, `node '${node.name}' (Reshape): shape`), attrInt(node, 'allowzero', 0) === 1, node))],
  Transpose: ([x], node) => {
    const r = x!.shape.length;
    const perm = attrInts(node, 'perm') ?? [...Array(r).keys()].reverse();
    return [permuted(x!, perm.map((p) => axisOf(p, r, node)))];
  },
  Concat: (inputs, node) => {
    const parts = inputs.filter((v): v is Value => v !== undefined);
    return [concatenated(parts, axisOf(attrInt(node, 'axis', 0), parts[0]!.shape.length, node), node)];
  },
  Split: (inputs, node, ctx) => {
    const x = inputs[0]!;
    const r = x.shape.length;
    const axis = axisOf(attrInt(node, 'axis', 0), r, node);
    const sizes = splitSizes(inputs, node, ctx, x.shape[axis]!);
    if (sizes.reduce((a, b) => a + b, 0) !== x.shape[axis]) throw new ShapeError(`node '${node.name}' (Split): parts [${sizes.join(', ')}] do not add up to ${x.shape[axis]}`);
    let at = 0;
    return sizes.map((s) => {
      const start = x.shape.map((_, i) => (i === axis ? at : 0));
      const count = x.shape.map((d, i) => (i === axis ? s : d));
      at += s;
      return sliced(x, start, new Array<number>(r).fill(1), count);
    });
  },
  Slice: (inputs, node, ctx) => {
    const x = inputs[0]!;
    const r = x.shape.length;
    const what = (k: string) => `node '${node.name}' (Slice): ${k}`;
    const starts = ctx.opset >= 10 ? intsOf(inputs[1], what('starts')) : attrInts(node, 'starts')!;
    const ends = ctx.opset >= 10 ? intsOf(inputs[2], what('ends')) : attrInts(node, 'ends')!;
    const axes = (ctx.opset >= 10 ? (inputs[3] ? intsOf(inputs[3], what('axes')) : undefined) : attrInts(node, 'axes')) ?? starts.map((_, i) => i);
    const steps = ctx.opset >= 10 && inputs[4] ? intsOf(inputs[4], what('steps')) : starts.map(() => 1);
    const start = new Array<number>(r).fill(0), step = new Array<number>(r).fill(1), count = [...x.shape];
    axes.forEach((a, i) => {
      const ax = axisOf(a, r, node);
      const s = sliceAxis(x.shape[ax]!, starts[i]!, ends[i]!, steps[i]!);
      start[ax] = s.start;
      step[ax] = steps[i]!;
      count[ax] = s.count;
    });
    return [sliced(x, start, step, count)];
  },
  Squeeze: (inputs, node, ctx) => {
    const x = inputs[0]!;
    const r = x.shape.length;
    const axes = (axesInput(inputs, node, 1, ctx, 13) ?? x.shape.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => axisOf(a, r, node));
    for (const a of axes) if (x.shape[a] !== 1) throw new ShapeError(`node '${node.name}' (Squeeze): axis ${a} of ${formatShape(x.shape)} is not 1`);
    return [reshaped(x, x.shape.filter((_, i) => !axes.includes(i)))];
  },
  Unsqueeze: (inputs, node, ctx) => {
    const x = inputs[0]!;
    const axes = axesInput(inputs, node, 1, ctx, 13) ?? [];
    const r = x.shape.length + axes.length;
    const ax = axes.map((a) => axisOf(a, r, node));
    const out: number[] = [];
    let j = 0;
    for (let i = 0; i < r; i++) out.push(ax.includes(i) ? 1 : x.shape[j++]!);
    return [reshaped(x, out)];
  },
  Gather: ([data, indices], node) => {
    const d = data!;
    const r = d.shape.length;
    const axis = axisOf(attrInt(node, 'axis', 0), r, node);
    const idx = intsOf(indices, `node '${node.name}' (Gather): the indices`);
    const dim = d.shape[axis]!;
    for (let i = 0; i < idx.length; i++) {
      const v = idx[i]!;
      if (!Number.isInteger(v) || v < -dim || v >= dim) {
        throw new ShapeError(`node '${node.name}' (Gather): index ${v} is outside the ${dim} entries of axis ${axis} (shape ${formatShape(d.shape)})`);
      }
      if (v < 0) idx[i] = v + dim;
    }
    const outer = d.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = d.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const outShape = [...d.shape.slice(0, axis), ...indices!.shape, ...d.shape.slice(axis + 1)];
    const index = new Int32Array(outer * idx.length * inner);
    let o = 0;
    for (let a = 0; a < outer; a++) for (const v of idx) for (let j = 0; j < inner; j++) index[o++] = (a * dim + v) * inner + j;
    return [pick(d, index, outShape)];
  },
  Where: ([cond, x, y], node) => {
    if (!isConst(cond)) throw new DTypeError(`node '${node.name}' (Where): the condition depends on the parameters`);
    const shape = ops.broadcastShape(ops.broadcastShape(cond.shape, x!.shape), y!.shape);
    if (isConst(x) && isConst(y)) {
      const ic = broadcastIndex(cond.shape, shape), ix = broadcastIndex(x.shape, shape), iy = broadcastIndex(y.shape, shape);
      const out = Array.from(ic, (c, i) => (cond.data[c] ? x.data[ix[i]!]! : y.data[iy[i]!]!));
      return [Const.of(x.dtype, shape, out)];
    }
    // a constant mask: each live side times its 0/1 mask, plus the constant side where it is chosen
    // (added, never multiplied, so a -inf fill stays -inf and its zeros do not turn into NaN)
    const mask = Const.of('float', cond.shape, Array.from(cond.data, (c) => (c ? 1 : 0)));
    const notMask = Const.of('float', cond.shape, Array.from(cond.data, (c) => (c ? 0 : 1)));
    const ic = broadcastIndex(cond.shape, shape);
    const fixed = new Float32Array(sizeOf(shape));
    let anyFixed = false;
    for (const [side, pickWhen] of [[x!, 1], [y!, 0]] as const) {
      if (!isConst(side)) continue;
      const is = broadcastIndex(side.shape, shape);
      for (let i = 0; i < fixed.length; i++) {
        if ((cond.data[ic[i]!] ? 1 : 0) === pickWhen) {
          fixed[i] = side.data[is[i]!]!;
          if (fixed[i] !== 0) anyFixed = true;
        }
      }
    }
    const live: Node[] = [];
    if (!isConst(x)) live.push(ops.mul(x!, toNode(mask)));
    if (!isConst(y)) live.push(ops.mul(y!, toNode(notMask)));
    let out = live.reduce((a, b) => ops.add(a, b));
    if (anyFixed) out = ops.add(out, toNode(new Const('float', shape, fixed)));
    return [fromNode(ops.broadcastTo(out, shape))];
  },
  Expand: ([x, shape], node) => [broadcasted(x!, ops.broadcastShape(x!.shape, intsOf(shape, `node '${node.name}' (Expand): shape`)))],
  Tile: ([x, repeats], node) => {
    const reps = intsOf(repeats, `node '${node.name}' (Tile): repeats`);
    const s = x!.shape;
    const outShape = s.map((d, i) => d * reps[i]!);
    const st = strides(s);
    return [pick(x!, indexOver(outShape, (c) => c.reduce((o, ci, i) => o + (ci % s[i]!) * st[i]!, 0)), outShape)];
  },
  Pad: (inputs, node, ctx) => {
    const x = inputs[0]!;
    const r = x.shape.length;
    if (attrString(node, 'mode', 'constant') !== 'constant') unsupported(node, `padding mode '${attrString(node, 'mode', '')}'`);
    let pads = ctx.opset >= 11 ? intsOf(inputs[1], `node '${node.name}' (Pad): pads`) : attrInts(node, 'pads')!;
    const value = ctx.opset >= 11 ? (inputs[2] ? scalarOf(inputs[2], `node '${node.name}' (Pad): constant_value`) : 0) : ((attr(node, 'value') as number | undefined) ?? 0);
    if (ctx.opset >= 18 && inputs[3]) {
      const axes = intsOf(inputs[3], `node '${node.name}' (Pad): axes`).map((a) => axisOf(a, r, node));
      const full = new Array<number>(2 * r).fill(0);
      axes.forEach((a, i) => {
        full[a] = pads[i]!;
        full[a + r] = pads[i + axes.length]!;
      });
      pads = full;
    }
    if (pads.some((p) => p < 0)) unsupported(node, 'negative padding (cropping)');
    if (pads.every((p) => p === 0)) return [x];
    const outShape = x.shape.map((d, i) => d + pads[i]! + pads[i + r]!);
    const before = pads.slice(0, r);
    const n = toNode(x);
    let y = ops.place(n, outShape, before);
    if (value !== 0) {
      const border = new Float32Array(sizeOf(outShape)).fill(value);
      const st = strides(outShape);
      indexOver(x.shape, (c) => c.reduce((o, ci, i) => o + (ci + before[i]!) * st[i]!, 0)).forEach((i) => (border[i] = 0));
      y = ops.add(y, toNode(new Const('float', outShape, border)));
    }
    const out = fromNode(y);
    return [isConst(out) && isConst(x) && x.dtype !== 'float' ? new Const(x.dtype, out.shape, Float64Array.from(out.data)) : out];
  },
  Identity: identity,
  Dropout: ([x], node) => [x, node.outputs[1] ? Const.of('bool', x!.shape, new Array<number>(sizeOf(x!.shape)).fill(1)) : undefined],
  Constant: (_inputs, node) => [constantValue(node)],
  Shape: ([x], node) => {
    const s = x!.shape;
    const r = s.length;
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + r : v, 0), r);
    const start = clamp(attrInt(node, 'start', 0)), end = clamp(attrInt(node, 'end', r));
    const dims = s.slice(start, Math.max(start, end));
    return [Const.of('int', [dims.length], dims)];
  },
  Size: ([x]) => [Const.of('int', [], [sizeOf(x!.shape)])],
  Cast: ([x], node) => {
    const to = castType(attrInt(node, 'to', 1));
    if (!isConst(x)) {
      if (to === 'float') return [x];
      throw new DTypeError(`node '${node.name}' (Cast): a value that depends on the parameters cast to ${to}`);
    }
    const f = to === 'float' ? (v: number) => v : to === 'bool' ? (v: number) => (v !== 0 ? 1 : 0) : (v: number) => (Number.isFinite(v) ? Math.trunc(v) : v);
    return [Const.of(to, x.shape, Array.from(x.data, f))];
  },
  Not: ([x], node) => {
    if (!isConst(x)) throw new DTypeError(`node '${node.name}' (Not) needs a constant input`);
    return [Const.of('bool', x.shape, Array.from(x.data, (v) => (v ? 0 : 1)))];
  },
  And: logical((a, b) => a && b),
  Or: logical((a, b) => a || b),
  Xor: logical((a, b) => a !== b),
  Equal: compare((a, b) => a === b),
  Less: compare((a, b) => a < b),
  Greater: compare((a, b) => a > b),
  LessOrEqual: compare((a, b) => a <= b),
  GreaterOrEqual: compare((a, b) => a >= b),
  ConstantOfShape: ([shape], node) => {
    const dims = intsOf(shape, `node '${node.name}' (ConstantOfShape): shape`);
    const v = node.attrs.value !== undefined ? literalConst(node.attrs.value, node) : Const.of('float', [1], [0]);
    return [Const.of(v.dtype, dims, new Array<number>(sizeOf(dims)).fill(v.data[0] ?? 0))];
  },
  Range: ([start, limit, delta], node) => {
    const [s, l, d] = [start, limit, delta].map((v, i) => scalarOf(v, `node '${node.name}' (Range): ${['start', 'limit', 'delta'][i]}`)) as [number, number, number];
    const n = Math.max(Math.ceil((l - s) / d), 0);
    return [Const.of(isConst(start) ? start.dtype : 'int', [n], Array.from({ length: n }, (_, i) => s + i * d))];
  },
  Trilu: (inputs, node) => {
    const x = inputs[0]!;
    const k = inputs[1] ? scalarOf(inputs[1], `node '${node.name}' (Trilu): k`) : 0;
    const upper = attrInt(node, 'upper', 1) === 1;
    const [rows, cols] = x.shape.slice(-2) as [number, number];
    const keep = Array.from({ length: rows * cols }, (_, i) => {
      const d = (i % cols) - Math.floor(i / cols);
      return (upper ? d >= k : d <= k) ? 1 : 0;
    });
    const mask = Const.of('float', [rows, cols], keep);
    if (isConst(x)) return [constBinary(x, mask, x.dtype, (a, m) => (m ? a : 0))];
    return [ops.mul(x, toNode(mask))];
  },
};

export const supportedOperators: readonly string[] = Object.keys(operators).sort();

/**
 * The input slots whose values (not only their shapes) decide the shape of an operator's outputs:
 * a shape, axes, split sizes, slice bounds, pads, Range's bounds. Every other output shape follows
 * from the input shapes alone. The executor folds shape arithmetic per input shape by this table
 * (`GraphLayer`), so an operator added above with such an input must be listed here.
 */
export const shapeInputs: Readonly<Record<string, readonly number[]>> = {
  Reshape: [1], Expand: [1], Tile: [1], Slice: [1, 2, 3, 4], Pad: [1, 3], ConstantOfShape: [0], Range: [0, 1, 2],
  Split: [1], Squeeze: [1], Unsqueeze: [1], ReduceSum: [1], ReduceMean: [1],
};



import { makeNode, tangentBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { formatShape, sizeOf, Tensor, type Shape } from '../tensor/index.js';
import { reshape } from './arithmetic.js';
import { scatterAdd, take } from './gather.js';

/**
 * Data movement (transpose, slicing, padding, concatenation) for graphs that are not built in.
 * Each is a linear map that picks or places elements, so it is `take` (or its adjoint
 * `scatterAdd`) with an index array: their jvp and vjp rules come for free, and so do second
 * derivatives. Concatenation is its own primitive so that joining many parts stays one pass.
 */

/** Row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

/** For every element of `outShape` (row-major), the flat source position `at(coords)`. */
export function indexOver(outShape: Shape, at: (coords: number[]) => number): Int32Array {
  const n = sizeOf(outShape);
  const index = new Int32Array(n);
  const coords = new Array<number>(outShape.length).fill(0);
  for (let i = 0; i < n; i++) {
    index[i] = at(coords);
    for (let d = outShape.length - 1; d >= 0; d--) {
      if (++coords[d]! < outShape[d]!) break;
      coords[d] = 0;
    }
  }
  return index;
}

/** The axes of x reordered: output axis i is input axis perm[i] (numpy.transpose). */
export function permute(x: Node, perm: readonly number[]): Node {
  const r = x.shape.length;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new ShapeError(`permute: [${perm.join(', ')}] is not a permutation of the ${r} axes of ${formatShape(x.shape)}`);
  }
  if (perm.every((p, i) => p === i)) return x;
  const outShape = perm.map((p) => x.shape[p]!);
  // moving only axes of length 1 keeps the memory order: a reshape
  const moved = perm.filter((p) => x.shape[p]! !== 1);
  if (moved.every((p, i) => i === 0 || p > moved[i - 1]!)) return reshape(x, outShape);
  const st = stridesOf(x.shape);
  const index = indexOver(outShape, (c) => {
    let o = 0;
    for (let i = 0; i < r; i++) o += c[i]! * st[perm[i]!]!;
    return o;
  });
  return take(x, index, outShape);
}

export interface SliceSpec {
  /** per axis: first index, step (may be negative) and number of elements taken */
  start: number[];
  step: number[];
  count: number[];
}

/** Strided slice: output[c] = x[start + c·step] on every axis. */
export function slice(x: Node, spec: SliceSpec): Node {
  const r = x.shape.length;
  const outShape = spec.count.slice(0, r);
  if (spec.start.every((s, i) => s === 0 && spec.step[i] === 1 && spec.count[i] === x.shape[i])) return x;
  const st = stridesOf(x.shape);
  for (let i = 0; i < r; i++) {
    const last = spec.start[i]! + (spec.count[i]! - 1) * spec.step[i]!;
    if (spec.count[i]! > 0 && (spec.start[i]! < 0 || spec.start[i]! >= x.shape[i]! || last < 0 || last >= x.shape[i]!)) {
      throw new ShapeError(`slice: axis ${i} of ${formatShape(x.shape)} has no elements ${spec.start[i]}..${last}`);
    }
  }
  const index = indexOver(outShape, (c) => {
    let o = 0;
    for (let i = 0; i < r; i++) o += (spec.start[i]! + c[i]! * spec.step[i]!) * st[i]!;
    return o;
  });
  return take(x, index, outShape);
}

/** Elements start..start+length-1 of one axis. */
export function narrow(x: Node, axis: number, start: number, length: number): Node {
  const r = x.shape.length;
  return slice(x, {
    start: x.shape.map((_, i) => (i === axis ? start : 0)),
    step: new Array<number>(r).fill(1),
    count: x.shape.map((d, i) => (i === axis ? length : d)),
  });
}

/**
 * x placed into zeros of shape `outShape` at offset `before` on each axis, every `stride`-th
 * position: zero padding (stride 1) and the dilation of a kernel (stride = dilation).
 */
export function place(x: Node, outShape: Shape, before: readonly number[], stride: readonly number[] = []): Node {
  const r = x.shape.length;
  if (outShape.length !== r) throw new ShapeError(`place: ${formatShape(x.shape)} and ${formatShape(outShape)} differ in rank`);
  const st = stridesOf(outShape);
  for (let i = 0; i < r; i++) {
    const last = before[i]! + (x.shape[i]! - 1) * (stride[i] ?? 1);
    if (before[i]! < 0 || (x.shape[i]! > 0 && last >= outShape[i]!)) throw new ShapeError(`place: ${formatShape(x.shape)} does not fit into ${formatShape(outShape)} at [${before.join(', ')}]`);
  }
  if (shapeIs(x.shape, outShape)) return x;
  const index = indexOver(x.shape, (c) => {
    let o = 0;
    for (let i = 0; i < r; i++) o += (before[i]! + c[i]! * (stride[i] ?? 1)) * st[i]!;
    return o;
  });
  return scatterAdd(x, index, outShape);
}

function shapeIs(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

interface ConcatInfo {
  axis: number;
  /** per input: its extent along the axis */
  sizes: number[];
  outer: number;
  inner: number;
}

/** Copies each part's rows [outer, size·inner] into its place in out [outer, total·inner]; a null part writes zeros. */
function concatInto(parts: readonly (Float32Array | null)[], info: ConcatInfo, outer: number, out: Float32Array): void {
  const total = info.sizes.reduce((a, b) => a + b, 0);
  const row = total * info.inner;
  let at = 0;
  parts.forEach((p, j) => {
    const w = info.sizes[j]! * info.inner;
    for (let o = 0; o < outer; o++) {
      if (p) out.set(p.subarray(o * w, (o + 1) * w), o * row + at);
      else out.fill(0, o * row + at, o * row + at + w);
    }
    at += w;
  });
}

const concatOp: Primitive = {
  name: 'concat',
  jvp(node, tangents, k) {
    const info = node.saved as ConcatInfo;
    const out = tangentBuffer(k * node.value.size);
    concatInto(tangents.map((t) => t?.data ?? null), info, k * info.outer, out);
    return new Tensor([k, ...node.shape], out);
  },
  vjp(node, g, needed) {
    const { axis, sizes } = node.saved as ConcatInfo;
    let at = 0;
    return sizes.map((s, j) => {
      const part = needed[j] ? narrow(g, axis, at, s) : null;
      at += s;
      return part;
    });
  },
};

/** Joins tensors along `axis` (every other dimension equal). */
export function concat(xs: readonly Node[], axis: number): Node {
  if (xs.length === 0) throw new ShapeError('concat needs at least one input');
  if (xs.length === 1) return xs[0]!;
  const first = xs[0]!.shape;
  const r = first.length;
  if (axis < 0 || axis >= r) throw new ShapeError(`concat: axis ${axis} is out of range for rank ${r}`);
  for (const x of xs) {
    if (x.shape.length !== r || x.shape.some((d, i) => i !== axis && d !== first[i])) {
      throw new ShapeError(`concat along axis ${axis}: shapes ${xs.map((t) => formatShape(t.shape)).join(', ')} differ off that axis`);
    }
  }
  const sizes = xs.map((x) => x.shape[axis]!);
  const outer = first.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = first.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outShape = first.map((d, i) => (i === axis ? sizes.reduce((a, b) => a + b, 0) : d));
  const info: ConcatInfo = { axis, sizes, outer, inner };
  const out = new Tensor(outShape);
  concatInto(xs.map((x) => x.value.data), info, outer, out.data);
  return makeNode(concatOp, xs, out, info);
}


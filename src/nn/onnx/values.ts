import { constant, type Node } from '../../autodiff/index.js';
import { DTypeError, ShapeError } from '../../errors.js';
import { broadcastShape } from '../../ops/index.js';
import { formatShape, sizeOf, Tensor, type Shape } from '../../tensor/index.js';
import type { GraphDType, LiteralTensor } from './description.js';

/**
 * A value that does not depend on the parameters: the input data, buffers, constants and shape
 * arithmetic. Integer and boolean values are held in float64 (exact to 2^53); float values in
 * float32, as the graph computes them.
 */
export class Const {
  constructor(
    readonly dtype: GraphDType,
    readonly shape: number[],
    readonly data: Float32Array | Float64Array,
  ) {
    if (data.length !== sizeOf(shape)) throw new ShapeError(`a constant of shape ${formatShape(shape)} needs ${sizeOf(shape)} values, got ${data.length}`);
  }

  static of(dtype: GraphDType, shape: readonly number[], values: ArrayLike<number>): Const {
    return new Const(dtype, [...shape], dtype === 'float' ? Float32Array.from(values) : Float64Array.from(values));
  }

  static fromLiteral(t: LiteralTensor): Const {
    return Const.of(t.dtype, t.shape, t.data);
  }

  toLiteral(): LiteralTensor {
    return { dtype: this.dtype, shape: [...this.shape], data: Array.from(this.data) };
  }

  get size(): number {
    return this.data.length;
  }
}

/** A parameter-dependent value (on the tape) or a constant one. */
export type Value = Node | Const;

export const isConst = (v: Value | undefined): v is Const => v instanceof Const;

const nodes = new WeakMap<Const, Node>();

/** The value as a node of the engine (constants become float32 constant nodes, made once). */
export function toNode(v: Value): Node {
  if (!(v instanceof Const)) return v;
  let n = nodes.get(v);
  if (!n) {
    n = constant(new Tensor(v.shape, v.data instanceof Float32Array ? v.data : Float32Array.from(v.data)));
    nodes.set(v, n);
  }
  return n;
}

/** A node result back as a value: constant when it does not depend on the parameters. */
export function fromNode(n: Node): Value {
  return n.requiresGrad ? n : new Const('float', [...n.shape], n.value.data);
}

export function shapeOf(v: Value): number[] {
  return [...v.shape];
}

/** The integers a constant holds (shape, axes, indices); `what` names it in errors. */
export function intsOf(v: Value | undefined, what: string): number[] {
  if (v === undefined) throw new ShapeError(`${what} is missing`);
  if (!(v instanceof Const)) throw new DTypeError(`${what} depends on the parameters; it must be a constant`);
  return Array.from(v.data, (x) => (Number.isFinite(x) ? Math.trunc(x) : x));
}

export function scalarOf(v: Value | undefined, what: string): number {
  const xs = intsOrFloats(v, what);
  if (xs.length !== 1) throw new ShapeError(`${what} must be a single value, got ${xs.length}`);
  return xs[0]!;
}

export function intsOrFloats(v: Value | undefined, what: string): number[] {
  if (v === undefined) throw new ShapeError(`${what} is missing`);
  if (!(v instanceof Const)) throw new DTypeError(`${what} depends on the parameters; it must be a constant`);
  return Array.from(v.data);
}

/** Elementwise f over two broadcast constants. */
export function constBinary(a: Const, b: Const, dtype: GraphDType, f: (x: number, y: number) => number): Const {
  const shape = broadcastShape(a.shape, b.shape);
  const n = sizeOf(shape);
  const ia = broadcastIndex(a.shape, shape), ib = broadcastIndex(b.shape, shape);
  const out = dtype === 'float' ? new Float32Array(n) : new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = f(a.data[ia[i]!]!, b.data[ib[i]!]!);
  return new Const(dtype, shape, out);
}

/** For each element of `outShape`, the flat position of the element of `shape` broadcast onto it. */
export function broadcastIndex(shape: Shape, outShape: Shape): Int32Array {
  const n = sizeOf(outShape);
  const r = outShape.length;
  const padded = [...new Array<number>(r - shape.length).fill(1), ...shape];
  const strides = new Array<number>(r).fill(0);
  let s = 1;
  for (let i = r - 1; i >= 0; i--) {
    strides[i] = padded[i] === 1 ? 0 : s;
    s *= padded[i]!;
  }
  const index = new Int32Array(n);
  const c = new Array<number>(r).fill(0);
  for (let i = 0; i < n; i++) {
    let o = 0;
    for (let d = 0; d < r; d++) o += c[d]! * strides[d]!;
    index[i] = o;
    for (let d = r - 1; d >= 0; d--) {
      if (++c[d]! < outShape[d]!) break;
      c[d] = 0;
    }
  }
  return index;
}

/** The elements of a constant at flat positions `index`, shaped `shape`. */
export function constTake(v: Const, index: Int32Array, shape: readonly number[]): Const {
  const out = v.dtype === 'float' ? new Float32Array(index.length) : new Float64Array(index.length);
  for (let i = 0; i < index.length; i++) out[i] = v.data[index[i]!]!;
  return new Const(v.dtype, [...shape], out);
}

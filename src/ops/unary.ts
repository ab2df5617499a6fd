import { makeNode, tangentBuffer, valueBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { shapeEquals, Tensor } from '../tensor/index.js';
import { Elementwise } from '../kernels/index.js';
import { add, mul } from './arithmetic.js';
import { compareWithZeroInto, gateRowsInto, muladdInto, operand, scaleRowsInto } from './elementwise.js';
import { blockShape } from './tangent.js';

/**
 * Elementwise functions as families of derivatives: order 0 is the function, order d its d-th
 * derivative. The jvp of order d multiplies the tangent by order d+1; the vjp multiplies the
 * cotangent by the node of order d+1, so every order is differentiable as far as the family
 * lists derivatives. A derivative marked zero stops the chain (no tangent, no node).
 */
type ElementwiseFn = (x: Float32Array, out: Float32Array) => void;

interface Family {
  name: string;
  /** derivs[d] computes the d-th derivative; null means identically zero from there on */
  derivs: (ElementwiseFn | null)[];
  /** the vjp of order 0 as one primitive, where that beats g · f'(x) built from two (y: the node itself, f(x)) */
  gradient?: (g: Node, x: Node, y: Node) => Node;
  /**
   * The jvp of order 0 straight from the output y = f(x), where that beats caching f'(x) (ReLU's
   * mask [x > 0] is [y > 0]: one pass, no array per node, and x's value need not be kept).
   */
  tangent?: (t: Float32Array, y: Float32Array, k: number, out: Float32Array) => void;
}

const ops = new Map<string, Primitive>();

function orderOp(family: Family, order: number): Primitive {
  const key = `${family.name}:${order}`;
  let op = ops.get(key);
  if (op) return op;
  const cache = new WeakMap<Node, Float32Array>();
  const nextDeriv = (): ElementwiseFn | null => {
    const d = family.derivs[order + 1];
    if (d === undefined) throw new Error(`${family.name}: derivative of order ${order + 1} is not implemented`);
    return d;
  };
  op = {
    name: order === 0 ? family.name : `${family.name}^(${order})`,
    // a mask family reads its own output; the others their input (for f'(x), cached at the first jvp)
    jvpReads: (node) => (order === 0 && family.tangent ? [node] : node.inputs),
    jvp(node, [t], k) {
      const d = nextDeriv();
      if (!d) return null;
      if (order === 0 && family.tangent) {
        const out = tangentBuffer(k * node.value.size);
        family.tangent(t!.data, node.value.data, k, out);
        return new Tensor([k, ...node.shape], out);
      }
      let slope = cache.get(node);
      if (!slope) {
        slope = new Float32Array(node.value.size);
        d(node.inputs[0]!.value.data, slope);
        cache.set(node, slope);
      }
      const out = tangentBuffer(k * slope.length);
      scaleRowsInto(t!.data, slope, k, out);
      return new Tensor([k, ...node.shape], out);
    },
    vjp(node, g) {
      if (order === 0 && family.gradient) return [family.gradient(g, node.inputs[0]!, node)];
      return nextDeriv() ? [mul(g, applyOrder(family, order + 1, node.inputs[0]!))] : [null];
    },
  };
  ops.set(key, op);
  return op;
}

function applyOrder(family: Family, order: number, x: Node): Node {
  const f = family.derivs[order];
  if (!f) throw new Error(`${family.name}: derivative of order ${order} is zero and has no node`);
  const out = new Tensor(x.shape, valueBuffer(x.value.size));
  f(x.value.data, out.data);
  return makeNode(orderOp(family, order), [x], out);
}

function map(f: (v: number) => number): ElementwiseFn {
  return (x, out) => {
    for (let i = 0; i < x.length; i++) out[i] = f(x[i]!);
  };
}

const reluGradOp: Primitive = {
  name: 'reluGrad',
  jvpReads: (node) => [node.inputs[1]!],
  // linear in g; the gate [x > 0] is piecewise constant in x, so x's tangent does not enter
  jvp(node, [tg], k) {
    if (!tg) return null;
    const out = tangentBuffer(k * node.value.size);
    gateRowsInto(tg.data, node.inputs[1]!.value.data, k, out);
    return new Tensor([k, ...node.shape], out);
  },
  vjp: (node, G, needed) => [needed[0] ? reluGrad(G, node.inputs[1]!) : null, null],
};

/** g · [x > 0] in one pass: ReLU's backward, without materialising the mask (x: ReLU's input or output, the mask is the same). */
export function reluGrad(g: Node, x: Node): Node {
  const out = new Tensor(x.shape, valueBuffer(x.value.size));
  gateRowsInto(g.value.data, x.value.data, 1, out.data);
  return makeNode(reluGradOp, [g, x], out);
}

/**
 * ReLU. At the kink x = 0 the engine takes the derivative to be 0 (as PyTorch does), and the
 * second derivative is 0 everywhere, so ReLU contributes nothing to H·v beyond the path through
 * its mask: the mask is piecewise constant in the weights.
 */
const reluFamily: Family = {
  name: 'relu',
  derivs: [
    (x, out) => compareWithZeroInto(Elementwise.Max, x, out),
    (x, out) => compareWithZeroInto(Elementwise.Greater, x, out),
    null,
  ],
  // [x > 0] = [relu(x) > 0], NaN and -0 included: the mask comes from the output
  gradient: (g, _x, y) => reluGrad(g, y),
  tangent: (t, y, k, out) => gateRowsInto(t, y, k, out),
};

const tanhFamily: Family = {
  name: 'tanh',
  derivs: [
    map(Math.tanh),
    map((v) => {
      const t = Math.tanh(v);
      return 1 - t * t;
    }),
    map((v) => {
      const t = Math.tanh(v);
      return -2 * t * (1 - t * t);
    }),
    map((v) => {
      const t = Math.tanh(v);
      return (1 - t * t) * (6 * t * t - 2);
    }),
  ],
};

function sigmoidOf(v: number): number {
  return v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v));
}

const sigmoidFamily: Family = {
  name: 'sigmoid',
  derivs: [
    map(sigmoidOf),
    map((v) => {
      const s = sigmoidOf(v);
      return s * (1 - s);
    }),
    map((v) => {
      const s = sigmoidOf(v);
      return s * (1 - s) * (1 - 2 * s);
    }),
    map((v) => {
      const s = sigmoidOf(v);
      return s * (1 - s) * (1 - 6 * s + 6 * s * s);
    }),
  ],
};

/** log(1 + e^x), computed without overflow for large |x|. */
function softplusOf(v: number): number {
  return v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
}

const softplusFamily: Family = {
  name: 'softplus',
  derivs: [map(softplusOf), ...sigmoidFamily.derivs],
};

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf with about 1e-7 accuracy (Abramowitz-Stegun 7.1.26 is too coarse for float64 checks). */
function erfOf(x: number): number {
  // Series for small |x|, continued fraction via erfc for large |x|.
  const ax = Math.abs(x);
  if (ax < 2.5) {
    let term = x, sum = x;
    const x2 = x * x;
    for (let n = 1; n < 60; n++) {
      term *= -x2 / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(-x²)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))) evaluated backwards
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + n / 2 / f;
  const erfc = Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

function phi(v: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * v * v);
}

function Phi(v: number): number {
  return 0.5 * (1 + erfOf(v / Math.SQRT2));
}

/** GELU in its exact form x·Φ(x) (PyTorch's default, not the tanh approximation). */
const geluFamily: Family = {
  name: 'gelu',
  derivs: [
    map((v) => v * Phi(v)),
    map((v) => Phi(v) + v * phi(v)),
    map((v) => phi(v) * (2 - v * v)),
    map((v) => phi(v) * (v * v * v - 4 * v)),
  ],
};

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** The error function (ONNX's Erf, what PyTorch's exporter writes GELU with). */
const erfFamily: Family = {
  name: 'erf',
  derivs: [
    map(erfOf),
    map((v) => TWO_OVER_SQRT_PI * Math.exp(-v * v)),
    map((v) => -2 * v * TWO_OVER_SQRT_PI * Math.exp(-v * v)),
    map((v) => (4 * v * v - 2) * TWO_OVER_SQRT_PI * Math.exp(-v * v)),
  ],
};

const expFamily: Family = { name: 'exp', derivs: [map(Math.exp), map(Math.exp), map(Math.exp), map(Math.exp)] };

const logFamily: Family = {
  name: 'log',
  derivs: [map(Math.log), map((v) => 1 / v), map((v) => -1 / (v * v)), map((v) => 2 / (v * v * v))],
};

const powFamilies = new Map<number, Family>();

/** x^p for a constant p: the d-th derivative is p(p-1)...(p-d+1)·x^(p-d). */
function powFamily(p: number): Family {
  let fam = powFamilies.get(p);
  if (fam) return fam;
  const derivs: (ElementwiseFn | null)[] = [];
  let coeff = 1;
  for (let d = 0; d < 4; d++) {
    const c = coeff, e = p - d;
    derivs.push(c === 0 ? null : map((v) => c * Math.pow(v, e)));
    if (c === 0) break;
    coeff *= p - d;
  }
  fam = { name: `pow(${p})`, derivs };
  powFamilies.set(p, fam);
  return fam;
}

export const relu = (x: Node): Node => applyOrder(reluFamily, 0, x);

const one = operand(Float32Array.of(1), []);

/** a + b over one shape (as a·1 + b: the bits of add), through ReLU or gated by a mask of that shape, in one pass. */
function sumInto(a: Float32Array, b: Float32Array, out: Float32Array, shape: readonly number[], then: 'relu' | Float32Array): void {
  muladdInto(operand(a, shape), one, null, operand(b, shape), out, shape, then === 'relu' ? then : operand(then, shape));
}

/** The tangent of (a + b)·[y > 0] for a block of k: both tangents summed and gated in one pass, or the one present gated. */
function gatedSumTangent(ta: Tensor | null, tb: Tensor | null, y: Node, k: number): Tensor | null {
  if (!ta && !tb) return null;
  const outShape = blockShape(k, y.shape);
  const out = tangentBuffer(k * y.value.size);
  if (ta && tb) muladdInto(operand(ta.data, outShape), one, null, operand(tb.data, outShape), out, outShape, operand(y.value.data, y.shape));
  else gateRowsInto((ta ?? tb)!.data, y.value.data, k, out);
  return new Tensor(outShape, out);
}

const addReluOp: Primitive = {
  name: 'addRelu',
  jvpReads: (node) => [node],
  // [y > 0]·(ȧ + ḃ): the sum and ReLU's gate in one pass (ȧ·1 is ȧ, so the bits of add and then the gate)
  jvp: (node, [ta, tb], k) => gatedSumTangent(ta ?? null, tb ?? null, node, k),
  // both operands receive the gated cotangent, as add's rule passes relu's on
  vjp(node, g, needed) {
    const gm = reluGrad(g, node);
    return [needed[0] ? gm : null, needed[1] ? gm : null];
  },
  // a block's output feeds the next block twice (its convolution and its shortcut): the two
  // cotangents' sum and ReLU's gate in one pass
  vjpOfSum(node, [g1, g2], needed) {
    const gm = reluGradOfSum(g1, g2, node);
    return [needed[0] ? gm : null, needed[1] ? gm : null];
  },
};

const reluGradOfSumOp: Primitive = {
  name: 'reluGradOfSum',
  jvpReads: (node) => [node.inputs[2]!],
  // linear in g1 + g2; the gate [y > 0] is piecewise constant, so y's tangent does not enter
  jvp: (node, [t1, t2], k) => gatedSumTangent(t1 ?? null, t2 ?? null, node.inputs[2]!, k),
  vjp(node, G, needed) {
    const gm = needed[0] || needed[1] ? reluGrad(G, node.inputs[2]!) : null;
    return [needed[0] ? gm : null, needed[1] ? gm : null, null];
  },
};

/** (g1 + g2) · [y > 0] in one pass: ReLU's backward of a cotangent that arrives in two parts (the bits of their sum, then the gate). */
function reluGradOfSum(g1: Node, g2: Node, y: Node): Node {
  const out = new Tensor(y.shape, valueBuffer(y.value.size));
  sumInto(g1.value.data, g2.value.data, out.data, y.shape, y.value.data);
  return makeNode(reluGradOfSumOp, [g1, g2, y], out);
}

/**
 * relu(a + b) as one primitive where a and b have the same shape (a residual block's end): its
 * value in one pass and its tangent in one, with the numbers of relu(add(a, b)); the cotangent is
 * ReLU's, handed to both. Operands that broadcast take the two primitives.
 */
export function addRelu(a: Node, b: Node): Node {
  if (!shapeEquals(a.shape, b.shape)) return relu(add(a, b));
  const out = new Tensor(a.shape, valueBuffer(a.value.size));
  sumInto(a.value.data, b.value.data, out.data, a.shape, 'relu');
  return makeNode(addReluOp, [a, b], out);
}
export const tanh = (x: Node): Node => applyOrder(tanhFamily, 0, x);
export const sigmoid = (x: Node): Node => applyOrder(sigmoidFamily, 0, x);
export const softplus = (x: Node): Node => applyOrder(softplusFamily, 0, x);
export const gelu = (x: Node): Node => applyOrder(geluFamily, 0, x);
export const erf = (x: Node): Node => applyOrder(erfFamily, 0, x);
export const exp = (x: Node): Node => applyOrder(expFamily, 0, x);
export const log = (x: Node): Node => applyOrder(logFamily, 0, x);
export const pow = (x: Node, p: number): Node => applyOrder(powFamily(p), 0, x);
export const rsqrt = (x: Node): Node => pow(x, -0.5);

export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'gelu' | 'softplus';
export const activations: Record<Activation, (x: Node) => Node> = { relu, tanh, sigmoid, gelu, softplus };

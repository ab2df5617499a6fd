import { makeNode, releaseTangent, tangentBuffer, tangentZeros, valueBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { formatShape, shapeEquals, sizeOf, Tensor, type Shape } from '../tensor/index.js';
import { broadcastShape, padShape } from './broadcast.js';
import { binaryInto, broadcastInto, muladdInto, mulSumToInto, operand, scaleInto, sumToInto, type BinaryKind } from './elementwise.js';
import { blockShape } from './tangent.js';

function binaryValue(kind: BinaryKind, a: Node, b: Node): Tensor {
  const shape = broadcastShape(a.shape, b.shape);
  const out = new Tensor(shape, valueBuffer(sizeOf(shape)));
  binaryInto(kind, a.value.data, a.shape, b.value.data, b.shape, out.data, shape);
  return out;
}

/** Sum of the two input tangents, each broadcast to the output: the jvp of add and sub. */
function linearCombinationJvp(node: Node, ta: Tensor | null, tb: Tensor | null, signB: 1 | -1, k: number): Tensor {
  const r = node.shape.length;
  const outShape = blockShape(k, node.shape);
  const out = tangentBuffer(sizeOf(outShape));
  const [a, b] = node.inputs as [Node, Node];
  const aBlock = blockShape(k, a.shape, r), bBlock = blockShape(k, b.shape, r);
  if (ta && tb) binaryInto(signB === 1 ? 'add' : 'sub', ta.data, aBlock, tb.data, bBlock, out, outShape);
  else if (ta) broadcastInto(ta.data, aBlock, out, outShape);
  else if (tb && signB === 1) broadcastInto(tb.data, bBlock, out, outShape);
  else if (tb) {
    const neg = tangentBuffer(tb.size);
    scaleInto(tb.data, -1, neg);
    broadcastInto(neg, bBlock, out, outShape);
    releaseTangent(neg);
  }
  return new Tensor(outShape, out);
}

const addOp: Primitive = {
  name: 'add',
  jvpReads: () => [],
  jvp: (node, [ta, tb], k) => linearCombinationJvp(node, ta ?? null, tb ?? null, 1, k),
  vjp: (node, g, needed) => [
    needed[0] ? sumTo(g, node.inputs[0]!.shape) : null,
    needed[1] ? sumTo(g, node.inputs[1]!.shape) : null,
  ],
};

const subOp: Primitive = {
  name: 'sub',
  jvpReads: () => [],
  jvp: (node, [ta, tb], k) => linearCombinationJvp(node, ta ?? null, tb ?? null, -1, k),
  vjp: (node, g, needed) => [
    needed[0] ? sumTo(g, node.inputs[0]!.shape) : null,
    needed[1] ? scale(sumTo(g, node.inputs[1]!.shape), -1) : null,
  ],
};

const mulOp: Primitive = {
  name: 'mul',
  jvpReads: (node) => node.inputs,
  jvp(node, [ta, tb], k) {
    const [a, b] = node.inputs as [Node, Node];
    const r = node.shape.length;
    const outShape = blockShape(k, node.shape);
    const out = tangentBuffer(sizeOf(outShape));
    const taShape = blockShape(k, a.shape, r), tbShape = blockShape(k, b.shape, r);
    // both tangents: ȧ·b + a·ḃ in one pass, the bits of the product and then the added product
    if (ta && tb) muladdInto(operand(ta.data, taShape), operand(b.value.data, b.shape), [operand(a.value.data, a.shape), operand(tb.data, tbShape)], null, out, outShape);
    else if (ta) binaryInto('mul', ta.data, taShape, b.value.data, b.shape, out, outShape);
    else if (tb) binaryInto('mul', a.value.data, a.shape, tb.data, tbShape, out, outShape);
    return new Tensor([k, ...node.shape], out);
  },
  vjp(node, g, needed) {
    const [a, b] = node.inputs as [Node, Node];
    return [needed[0] ? mulSumTo(g, b, a.shape) : null, needed[1] ? mulSumTo(g, a, b.shape) : null];
  },
};

const mulSumToOp: Primitive = {
  name: 'mulSumTo',
  jvpReads: (node) => node.inputs,
  jvp(node, [ta, tb], k) {
    const [a, b] = node.inputs as [Node, Node];
    const full = node.saved as number[];
    const r = full.length;
    const fullBlock = blockShape(k, full);
    const outBlock = blockShape(k, node.shape, r);
    const out = tangentBuffer(k * node.value.size);
    if (ta) mulSumToInto(ta.data, blockShape(k, a.shape, r), b.value.data, b.shape, fullBlock, out, outBlock);
    if (tb) {
      const second = ta ? tangentBuffer(out.length) : out;
      mulSumToInto(a.value.data, a.shape, tb.data, blockShape(k, b.shape, r), fullBlock, second, outBlock);
      if (second !== out) {
        for (let i = 0; i < out.length; i++) out[i] += second[i]!;
        releaseTangent(second);
      }
    }
    return new Tensor([k, ...node.shape], out);
  },
  vjp(node, g, needed) {
    const [a, b] = node.inputs as [Node, Node];
    return [needed[0] ? mulSumTo(g, b, a.shape) : null, needed[1] ? mulSumTo(g, a, b.shape) : null];
  },
};

/**
 * sumTo(a·b, shape) as one primitive: the gradient of a broadcast product with respect to its
 * smaller operand (a BN scale, a bias-like factor) without a full-size intermediate.
 */
export function mulSumTo(a: Node, b: Node, shape: Shape): Node {
  // the cotangent of a broadcast operand can be smaller than the operand: iterate over all three
  const full = broadcastShape(broadcastShape(a.shape, b.shape), shape);
  if (shapeEquals(full, shape)) return broadcastTo(mul(a, b), shape);
  const out = new Tensor(shape, valueBuffer(sizeOf(shape)));
  mulSumToInto(a.value.data, a.shape, b.value.data, b.shape, full, out.data, padShape(shape, full.length));
  return makeNode(mulSumToOp, [a, b], out, full);
}

const divOp: Primitive = {
  name: 'div',
  jvpReads: (node) => [node, node.inputs[1]!],
  // d(a/b) = da/b - (a/b)·db/b
  jvp(node, [ta, tb], k) {
    const [a, b] = node.inputs as [Node, Node];
    const r = node.shape.length;
    const outShape = blockShape(k, node.shape);
    const out = ta ? tangentBuffer(sizeOf(outShape)) : tangentZeros(sizeOf(outShape));
    if (ta) binaryInto('div', ta.data, blockShape(k, a.shape, r), b.value.data, b.shape, out, outShape);
    if (tb) {
      const q = tangentBuffer(sizeOf(outShape));
      binaryInto('mul', node.value.data, node.shape, tb.data, blockShape(k, b.shape, r), q, outShape);
      const t = tangentBuffer(q.length);
      binaryInto('div', q, outShape, b.value.data, b.shape, t, outShape);
      for (let i = 0; i < out.length; i++) out[i] -= t[i]!;
      releaseTangent(q);
      releaseTangent(t);
    }
    return new Tensor([k, ...node.shape], out);
  },
  vjp(node, g, needed) {
    const [a, b] = node.inputs as [Node, Node];
    return [
      needed[0] ? sumTo(div(g, b), a.shape) : null,
      needed[1] ? sumTo(scale(div(mul(g, node), b), -1), b.shape) : null,
    ];
  },
};

export function add(a: Node, b: Node): Node {
  return makeNode(addOp, [a, b], binaryValue('add', a, b));
}
export function sub(a: Node, b: Node): Node {
  return makeNode(subOp, [a, b], binaryValue('sub', a, b));
}
export function mul(a: Node, b: Node): Node {
  return makeNode(mulOp, [a, b], binaryValue('mul', a, b));
}
export function div(a: Node, b: Node): Node {
  return makeNode(divOp, [a, b], binaryValue('div', a, b));
}

const scaleOp: Primitive = {
  name: 'scale',
  jvpReads: () => [],
  jvp(node, [t]) {
    const out = tangentBuffer(t!.size);
    scaleInto(t!.data, node.saved as number, out);
    return new Tensor(t!.shape, out);
  },
  vjp: (node, g) => [scale(g, node.saved as number)],
};

/** c·x for a constant c. */
export function scale(x: Node, c: number): Node {
  const out = new Tensor(x.shape, valueBuffer(x.value.size));
  scaleInto(x.value.data, c, out.data);
  return makeNode(scaleOp, [x], out, c);
}

const addScalarOp: Primitive = {
  name: 'addScalar',
  jvpReads: () => [],
  jvp: (_node, [t]) => t!,
  vjp: (_node, g) => [g],
};

/** x + c for a constant c. */
export function addScalar(x: Node, c: number): Node {
  const out = new Tensor(x.shape, valueBuffer(x.value.size));
  const xs = x.value.data;
  for (let i = 0; i < xs.length; i++) out.data[i] = xs[i]! + c;
  return makeNode(addScalarOp, [x], out, c);
}

const sumToOp: Primitive = {
  name: 'sumTo',
  jvpReads: () => [],
  jvp(node, [t], k) {
    const x = node.inputs[0]!;
    const out = tangentBuffer(k * node.value.size);
    sumToInto(t!.data, blockShape(k, x.shape), out, blockShape(k, node.shape, x.shape.length));
    return new Tensor([k, ...node.shape], out);
  },
  vjp: (node, g) => [broadcastTo(g, node.inputs[0]!.shape)],
};

/** Sums x down to `shape` (which must broadcast to x's shape); the adjoint of broadcastTo. */
export function sumTo(x: Node, shape: Shape): Node {
  if (shapeEquals(x.shape, shape)) return x;
  if (!shapeEquals(broadcastShape(shape, x.shape), x.shape)) {
    throw new ShapeError(`cannot sum shape ${formatShape(x.shape)} down to ${formatShape(shape)}`);
  }
  const out = new Tensor(shape, valueBuffer(sizeOf(shape)));
  sumToInto(x.value.data, x.shape, out.data, padShape(shape, x.shape.length));
  return makeNode(sumToOp, [x], out);
}

const broadcastToOp: Primitive = {
  name: 'broadcastTo',
  jvpReads: () => [],
  jvp(node, [t], k) {
    const x = node.inputs[0]!;
    const outShape = blockShape(k, node.shape);
    const out = tangentBuffer(sizeOf(outShape));
    broadcastInto(t!.data, blockShape(k, x.shape, node.shape.length), out, outShape);
    return new Tensor(outShape, out);
  },
  vjp: (node, g) => [sumTo(g, node.inputs[0]!.shape)],
};

export function broadcastTo(x: Node, shape: Shape): Node {
  if (shapeEquals(x.shape, shape)) return x;
  if (!shapeEquals(broadcastShape(x.shape, shape), shape)) {
    throw new ShapeError(`cannot broadcast shape ${formatShape(x.shape)} to ${formatShape(shape)}`);
  }
  const out = new Tensor(shape, valueBuffer(sizeOf(shape)));
  broadcastInto(x.value.data, x.shape, out.data, shape);
  return makeNode(broadcastToOp, [x], out);
}

const reshapeOp: Primitive = {
  name: 'reshape',
  jvpReads: () => [],
  jvp: (node, [t], k) => new Tensor([k, ...node.shape], t!.data),
  vjp: (node, g) => [reshape(g, node.inputs[0]!.shape)],
};

/** Same values, new shape (no copy). */
export function reshape(x: Node, shape: Shape): Node {
  if (shapeEquals(x.shape, shape)) return x;
  return makeNode(reshapeOp, [x], x.value.reshape(shape));
}

/** Flattens every dimension after the first: [N, ...] to [N, rest]. */
export function flatten(x: Node): Node {
  const n = x.shape[0] ?? 1;
  return reshape(x, [n, x.value.size / Math.max(n, 1)]);
}

function normalizeAxes(axes: number | readonly number[] | undefined, rank: number): number[] {
  const list = axes === undefined ? [...Array(rank).keys()] : typeof axes === 'number' ? [axes] : [...axes];
  return list.map((a) => {
    const ax = a < 0 ? a + rank : a;
    if (ax < 0 || ax >= rank) throw new ShapeError(`axis ${a} is out of range for a tensor of rank ${rank}`);
    return ax;
  });
}

/** Sum over `axes` (all when omitted). */
export function sum(x: Node, axes?: number | readonly number[], keepDims = false): Node {
  const ax = normalizeAxes(axes, x.shape.length);
  const kept = x.shape.map((d, i) => (ax.includes(i) ? 1 : d));
  const s = sumTo(x, kept);
  return keepDims ? s : reshape(s, x.shape.filter((_, i) => !ax.includes(i)));
}

/** Mean over `axes` (all when omitted). */
export function mean(x: Node, axes?: number | readonly number[], keepDims = false): Node {
  const ax = normalizeAxes(axes, x.shape.length);
  const count = ax.reduce((p, a) => p * x.shape[a]!, 1);
  return scale(sum(x, ax, keepDims), 1 / count);
}

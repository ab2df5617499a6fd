import { makeNode, tangentBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import { formatShape, sizeOf, Tensor, type Shape } from '../tensor/index.js';
import { sumTo } from './arithmetic.js';
import { broadcastShape, padShape } from './broadcast.js';

interface BmmInfo {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
}

function batchStrides(batch: Shape, full: Shape): number[] {
  const padded = padShape(batch, full.length);
  const strides = new Array<number>(full.length).fill(0);
  let s = 1;
  for (let i = full.length - 1; i >= 0; i--) {
    strides[i] = padded[i] === 1 ? 0 : s;
    s *= padded[i]!;
  }
  return strides;
}

/**
 * out[b] = op(A[b])·op(B[b]) (+ out[b] when accumulating) over the broadcast batch dimensions:
 * one GEMM per batch entry, each operand's entry found through its own (zero where broadcast) strides.
 */
function bmmInto(
  a: Float32Array,
  aBatch: Shape,
  b: Float32Array,
  bBatch: Shape,
  outBatch: Shape,
  info: BmmInfo,
  out: Float32Array,
  accumulate: boolean,
): void {
  const { transA, transB, M, N, K } = info;
  const sa = batchStrides(aBatch, outBatch), sb = batchStrides(bBatch, outBatch);
  const count = sizeOf(outBatch);
  const coords = new Array<number>(outBatch.length).fill(0);
  const kern = kernels();
  for (let i = 0; i < count; i++) {
    let oa = 0, ob = 0;
    for (let d = 0; d < outBatch.length; d++) {
      oa += coords[d]! * sa[d]!;
      ob += coords[d]! * sb[d]!;
    }
    kern.sgemm(transA, transB, M, N, K, 1, a.subarray(oa * M * K, (oa + 1) * M * K), b.subarray(ob * K * N, (ob + 1) * K * N), accumulate ? 1 : 0, out.subarray(i * M * N, (i + 1) * M * N));
    for (let d = outBatch.length - 1; d >= 0; d--) {
      if (++coords[d]! < outBatch[d]!) break;
      coords[d] = 0;
    }
  }
}

const batchMatmulOp: Primitive = {
  name: 'batchMatmul',
  // d(op(A)·op(B)) = op(dA)·op(B) + op(A)·op(dB); the block dimension k is one more batch dimension
  jvp(node, [ta, tb], k) {
    const info = node.saved as BmmInfo;
    const [a, b] = node.inputs as [Node, Node];
    const outBatch = [k, ...node.shape.slice(0, -2)];
    const r = outBatch.length;
    const out = tangentBuffer(k * node.value.size);
    if (ta) bmmInto(ta.data, [k, ...padShape(a.shape.slice(0, -2), r - 1)], b.value.data, b.shape.slice(0, -2), outBatch, info, out, false);
    if (tb) bmmInto(a.value.data, a.shape.slice(0, -2), tb.data, [k, ...padShape(b.shape.slice(0, -2), r - 1)], outBatch, info, out, !!ta);
    return new Tensor([k, ...node.shape], out);
  },
  vjp(node, g, needed) {
    const { transA, transB } = node.saved as BmmInfo;
    const [a, b] = node.inputs as [Node, Node];
    const ga = needed[0] ? sumTo(transA ? batchMatmul(b, g, transB, true) : batchMatmul(g, b, false, !transB), a.shape) : null;
    const gb = needed[1] ? sumTo(transB ? batchMatmul(g, a, true, transA) : batchMatmul(a, g, !transA, false), b.shape) : null;
    return [ga, gb];
  },
};

/**
 * op(A)·op(B) over the last two dimensions, the leading (batch) dimensions broadcast as numpy's
 * matmul: A [..., M, K] and B [..., K, N] give [..., M, N].
 */
export function batchMatmul(a: Node, b: Node, transA = false, transB = false): Node {
  if (a.shape.length < 2 || b.shape.length < 2) {
    throw new ShapeError(`batchMatmul needs operands of rank 2 or more, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const [ra, ca] = a.shape.slice(-2) as [number, number];
  const [rb, cb] = b.shape.slice(-2) as [number, number];
  const [M, Ka] = transA ? [ca, ra] : [ra, ca];
  const [Kb, N] = transB ? [cb, rb] : [rb, cb];
  if (Ka !== Kb) throw new ShapeError(`matmul: inner dimensions differ: ${formatShape(a.shape)}${transA ? 'ᵀ' : ''} times ${formatShape(b.shape)}${transB ? 'ᵀ' : ''}`);
  const outBatch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const info: BmmInfo = { transA, transB, M, N, K: Ka };
  const out = new Tensor([...outBatch, M, N]);
  bmmInto(a.value.data, a.shape.slice(0, -2), b.value.data, b.shape.slice(0, -2), outBatch, info, out.data, false);
  return makeNode(batchMatmulOp, [a, b], out, info);
}

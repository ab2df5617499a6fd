import { makeNode, tangentBuffer, valueBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { kernels } from '../kernels/index.js';
import { formatShape, Tensor } from '../tensor/index.js';
import { add } from './arithmetic.js';

interface MatmulInfo {
  transA: boolean;
  transB: boolean;
  M: number;
  N: number;
  K: number;
}

const matmulOp: Primitive = {
  name: 'matmul',
  jvpReads: (node) => node.inputs,
  // d(op(A)·op(B)) = op(dA)·op(B) + op(A)·op(dB), one GEMM pair per tangent in the block
  jvp(node, [ta, tb], k) {
    const { transA, transB, M, N, K } = node.saved as MatmulInfo;
    const [a, b] = node.inputs as [Node, Node];
    const out = tangentBuffer(k * M * N);
    const sa = M * K, sb = K * N, sc = M * N;
    const kern = kernels();
    for (let j = 0; j < k; j++) {
      const c = out.subarray(j * sc, (j + 1) * sc);
      let beta = 0;
      if (ta) {
        kern.sgemm(transA, transB, M, N, K, 1, ta.data.subarray(j * sa, (j + 1) * sa), b.value.data, 0, c);
        beta = 1;
      }
      if (tb) kern.sgemm(transA, transB, M, N, K, 1, a.value.data, tb.data.subarray(j * sb, (j + 1) * sb), beta, c);
    }
    return new Tensor([k, M, N], out);
  },
  vjp(node, g, needed) {
    const { transA, transB } = node.saved as MatmulInfo;
    const [a, b] = node.inputs as [Node, Node];
    const ga = needed[0] ? (transA ? matmul(b, g, transB, true) : matmul(g, b, false, !transB)) : null;
    const gb = needed[1] ? (transB ? matmul(g, a, true, transA) : matmul(a, g, !transA, false)) : null;
    return [ga, gb];
  },
};

/** op(A)·op(B) for 2-D A and B, where op transposes when the flag is set. */
export function matmul(a: Node, b: Node, transA = false, transB = false): Node {
  if (a.shape.length !== 2 || b.shape.length !== 2) {
    throw new ShapeError(`matmul needs two matrices, got shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  const [M, Ka] = transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [Kb, N] = transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (Ka !== Kb) {
    throw new ShapeError(
      `matmul: inner dimensions differ: ${formatShape(a.shape)}${transA ? 'ᵀ' : ''} times ${formatShape(b.shape)}${transB ? 'ᵀ' : ''}`,
    );
  }
  const out = new Tensor([M, N], valueBuffer(M * N));
  kernels().sgemm(transA, transB, M, N, Ka, 1, a.value.data, b.value.data, 0, out.data);
  const info: MatmulInfo = { transA, transB, M, N, K: Ka };
  return makeNode(matmulOp, [a, b], out, info);
}

/** x·Wᵀ + b, as torch.nn.Linear: x is [N, in], W is [out, in], b is [out]. */
export function linear(x: Node, weight: Node, bias?: Node): Node {
  if (x.shape.length !== 2 || weight.shape.length !== 2 || x.shape[1] !== weight.shape[1]) {
    throw new ShapeError(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)} (expected [N, ${weight.shape[1]}])`);
  }
  const y = matmul(x, weight, false, true);
  return bias ? add(y, bias) : y;
}

import { constant, makeNode, tangentBuffer, valueBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { formatShape, sizeOf, Tensor } from '../tensor/index.js';
import { addScalar, mean, mul, mulSumTo, reshape, scale, sub, sumTo } from './arithmetic.js';
import { broadcastInto, muladdInto, type Operand } from './elementwise.js';
import { blockShape } from './tangent.js';
import { rsqrt } from './unary.js';

export interface BatchNormResult {
  output: Node;
  /** the batch mean and biased variance per channel (train mode), for the running-statistics update */
  batchMean?: Float32Array;
  batchVar?: Float32Array;
}

const operand = (data: Float32Array, shape: readonly number[]): Operand => ({ data, shape });

const channelAffineOp: Primitive = {
  name: 'channelAffine',
  jvpReads: (node) => node.inputs.slice(0, 2),
  // d(x·s + t) = dx·s + x·ds + dt, in one pass over the block whichever terms are present
  jvp(node, [tx, ts, tt], k) {
    const [x, s, t] = node.inputs as [Node, Node, Node];
    const outShape = blockShape(k, node.shape);
    const out = tangentBuffer(sizeOf(outShape));
    const block = (tangent: Tensor, of: Node) => operand(tangent.data, blockShape(k, of.shape));
    const primalX = operand(x.value.data, x.shape); // the same for every tangent of the block
    const shift = tt ? block(tt, t) : null;
    if (tx) muladdInto(block(tx, x), operand(s.value.data, s.shape), ts ? [primalX, block(ts, s)] : null, shift, out, outShape);
    else if (ts) muladdInto(primalX, block(ts, s), null, shift, out, outShape);
    else broadcastInto(tt!.data, blockShape(k, t.shape), out, outShape);
    return new Tensor(outShape, out);
  },
  vjp(node, g, needed) {
    const [x, s, t] = node.inputs as [Node, Node, Node];
    return [needed[0] ? mul(g, s) : null, needed[1] ? mulSumTo(g, x, s.shape) : null, needed[2] ? sumTo(g, t.shape) : null];
  },
};

/**
 * x·s + t with s and t per channel ([1, C, 1, 1]) over an NCHW x: batch norm's affine map as one
 * primitive, so its forward value, its tangent and its cotangent each take one pass over x.
 */
export function channelAffine(x: Node, s: Node, t: Node): Node {
  const out = new Tensor(x.shape, valueBuffer(x.value.size));
  muladdInto(operand(x.value.data, x.shape), operand(s.value.data, s.shape), null, operand(t.value.data, t.shape), out.data, x.shape);
  return makeNode(channelAffineOp, [x, s, t], out);
}

/**
 * Batch normalisation over NCHW (per channel), composed of primitives so that its gradient and
 * its second derivatives come from the primitives' rules.
 * - train: batch statistics, differentiated through (the mean and variance depend on the weights);
 * - eval: running statistics, constants: y = x·γ/sqrt(var+eps) + (β − mean·γ/sqrt(var+eps)).
 */
export function batchNorm2d(
  x: Node,
  weight: Node,
  bias: Node,
  runningMean: Tensor,
  runningVar: Tensor,
  mode: 'train' | 'eval',
  eps = 1e-5,
): BatchNormResult {
  if (x.shape.length !== 4) throw new ShapeError(`batch norm expects an NCHW input, got ${formatShape(x.shape)}`);
  const C = x.shape[1]!;
  for (const [name, t] of [['weight', weight.value], ['bias', bias.value], ['running mean', runningMean], ['running variance', runningVar]] as const) {
    if (t.size !== C) throw new ShapeError(`batch norm: ${name} has ${t.size} values but the input has ${C} channels`);
  }
  const perChannel = [1, C, 1, 1];
  const gamma = reshape(weight, perChannel);
  const beta = reshape(bias, perChannel);
  if (mode === 'eval') {
    const inv = constant(runningVar.reshape(perChannel).clone());
    const invStd = new Tensor(perChannel);
    for (let c = 0; c < C; c++) invStd.data[c] = 1 / Math.sqrt(inv.value.data[c]! + eps);
    const scaleC = mul(gamma, constant(invStd));
    const shift = sub(beta, mul(constant(runningMean.reshape(perChannel)), scaleC));
    return { output: channelAffine(x, scaleC, shift) };
  }
  const mu = mean(x, [0, 2, 3], true);
  const centered = sub(x, mu);
  // Σ centered² per channel in float64 straight from the products: no squared copy of the batch
  const count = x.value.size / C;
  const variance = scale(mulSumTo(centered, centered, perChannel), 1 / count);
  const invStd = rsqrt(addScalar(variance, eps));
  // y = x·α + (β − μ·α), α = γ/σ: PyTorch's own arithmetic for batch norm, in one pass over x
  const alpha = mul(invStd, gamma);
  const output = channelAffine(x, alpha, sub(beta, mul(mu, alpha)));
  return { output, batchMean: mu.value.data.slice(), batchVar: variance.value.data.slice() };
}

import { activeTape, constant, makeNode, releaseTangent, tangentBuffer, tangentZeros, valueBuffer, type Node, type Primitive } from '../autodiff/index.js';
import { kernels } from '../kernels/index.js';
import { HesseError, ShapeError } from '../errors.js';
import { formatShape, sizeOf, Tensor } from '../tensor/index.js';
import { addScalar, mean, mul, mulSumTo, reshape, scale, sub, sumTo } from './arithmetic.js';
import { broadcastInto, gateRowsInto, muladdInto, operand } from './elementwise.js';
import { blockShape } from './tangent.js';
import { reluGrad, rsqrt } from './unary.js';

export interface BatchNormResult {
  output: Node;
  /** the batch mean and biased variance per channel (train mode), for the running-statistics update */
  batchMean?: Float32Array;
  batchVar?: Float32Array;
}

/** Whether the operands have the layout of batch norm's affine map: x NCHW, s and t [1, C, 1, 1], g like x. */
function channelLayout(x: Node, s: Node, t: Node, g: Node): boolean {
  const C = x.shape[1];
  const perChannel = (n: Node) => n.shape.length === 4 && n.shape[1] === C && n.value.size === C;
  return x.shape.length === 4 && perChannel(s) && perChannel(t) && g.value.size === x.value.size;
}

/**
 * One sweep over g gives the cotangents of x·s + t: dx = gm·s, Σ gm·x and Σ gm (gm = g, or
 * g·[y > 0] through the ReLU), the bits of the gate, multiply and reductions they stand for. An
 * unrecorded backward pass (a gradient, a training step) takes them as constants, since nothing
 * differentiates them; a recorded one as the values of its cotangent primitive and its two sums.
 */
function sweepCotangents(node: Node, g: Node, relu: boolean): [Tensor, Tensor, Tensor] {
  const [x, s, t] = node.inputs as [Node, Node, Node];
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const dx = valueBuffer(x.value.size), ds = valueBuffer(C), dt = valueBuffer(C);
  kernels().affineBackward(g.value.data, x.value.data, s.value.data, relu ? node.value.data : null, dx, ds, dt, N, C, H * W);
  return [new Tensor(x.shape, dx), new Tensor(s.shape, ds), new Tensor(t.shape, dt)];
}

function affineBackwardSweep(node: Node, g: Node, relu: boolean, needed: readonly boolean[]): (Node | null)[] {
  return sweepCotangents(node, g, relu).map((v, i) => (needed[i] ? constant(v) : null));
}

/**
 * The sums of a cotangent primitive's tangent, for its two part nodes: the replay visits the
 * primitive first and its parts right after, so each part picks its sum up from the tangent it
 * receives, which is the primitive's own.
 */
const tangentSums = new WeakMap<Tensor, { s: Tensor; t: Tensor }>();

function notReversible(name: string): never {
  throw new HesseError(`${name} belongs to a recorded backward pass, which is differentiated forward (H·v), not reverse again`);
}

/**
 * The recorded backward pass of the affine map (and ReLU): dx = gm·s as this primitive's value,
 * with inputs [g, x, s] (and y, whose mask gates g), and Σ gm·x, Σ gm as two part nodes. One
 * sweep makes all three (the bits of the gate, multiply and reductions it stands for); its
 * tangent is one sweep too, of the gated cotangent's tangent and x's, where the composed rule
 * took four passes and kept the gated cotangent in memory.
 */
function affineCotangentOp(relu: boolean): Primitive {
  return {
    name: relu ? 'channelAffineReluCotangent' : 'channelAffineCotangent',
    jvpReads: (node) => node.inputs,
    jvp(node, [tg, tx, ts], k) {
      const [g, x, s, y] = node.inputs as [Node, Node, Node, Node | undefined];
      const [N, C, H, W] = x.shape as [number, number, number, number];
      const n = x.value.size;
      const dgx = tangentBuffer(k * n);
      const ds = new Float32Array(k * C), dt = new Float32Array(k * C);
      const zeros = tg ? null : tangentZeros(k * n);
      kernels().affineBackwardTangent(g.value.data, x.value.data, s.value.data, relu ? y!.value.data : null, tg?.data ?? zeros!, tx?.data ?? null, ts?.data ?? null, dgx, ds, dt, k, N, C, H * W);
      if (zeros) releaseTangent(zeros);
      const out = new Tensor(blockShape(k, x.shape), dgx);
      tangentSums.set(out, { s: new Tensor(blockShape(k, s.shape), ds), t: new Tensor(blockShape(k, s.shape), dt) });
      return out;
    },
    vjp: (node) => notReversible(node.op!.name),
  };
}

const affineCotangentParts: Primitive = {
  name: 'channelAffineCotangentSum',
  jvpReads: () => [],
  jvp(node, [tl]) {
    if (!tl) return null;
    const sums = tangentSums.get(tl);
    if (!sums) throw new Error(`internal: ${node.op!.name} replayed without its cotangent primitive's tangent`);
    return node.saved === 'scale' ? sums.s : sums.t;
  },
  vjp: (node) => notReversible(node.op!.name),
};

const channelAffineCotangentOp = affineCotangentOp(false);
const channelAffineReluCotangentOp = affineCotangentOp(true);

/** The cotangents of x, s and t as recorded nodes: one primitive and its two sums. */
function affineBackwardRecorded(node: Node, g: Node, relu: boolean, needed: readonly boolean[]): (Node | null)[] {
  const [x, s] = node.inputs as [Node, Node];
  const [dx, ds, dt] = sweepCotangents(node, g, relu);
  const op = relu ? channelAffineReluCotangentOp : channelAffineCotangentOp;
  const gx = makeNode(op, relu ? [g, x, s, node] : [g, x, s], dx);
  return [
    needed[0] ? gx : null,
    needed[1] ? makeNode(affineCotangentParts, [gx], ds, 'scale') : null,
    needed[2] ? makeNode(affineCotangentParts, [gx], dt, 'shift') : null,
  ];
}

function affineOp(relu: boolean): Primitive {
  return {
    name: relu ? 'channelAffineRelu' : 'channelAffine',
    // ReLU's mask comes from the output, the affine map's tangent from x and s
    jvpReads: (node) => (relu ? [node, ...node.inputs.slice(0, 2)] : node.inputs.slice(0, 2)),
    // d(x·s + t) = dx·s + x·ds + dt, and ReLU's gate, in one pass over the block whichever terms are present
    jvp(node, [tx, ts, tt], k) {
      const [x, s, t] = node.inputs as [Node, Node, Node];
      const outShape = blockShape(k, node.shape);
      const out = tangentBuffer(sizeOf(outShape));
      const block = (tangent: Tensor, of: Node) => operand(tangent.data, blockShape(k, of.shape));
      const primalX = operand(x.value.data, x.shape); // the same for every tangent of the block
      const shift = tt ? block(tt, t) : null;
      const mode = relu ? operand(node.value.data, node.shape) : 'set'; // the mask is y, the same for every tangent
      if (tx) muladdInto(block(tx, x), operand(s.value.data, s.shape), ts ? [primalX, block(ts, s)] : null, shift, out, outShape, mode);
      else if (ts) muladdInto(primalX, block(ts, s), null, shift, out, outShape, mode);
      else {
        broadcastInto(tt!.data, blockShape(k, t.shape), out, outShape);
        if (relu) {
          const gated = tangentBuffer(out.length);
          gateRowsInto(out, node.value.data, k, gated);
          releaseTangent(out);
          return new Tensor(outShape, gated);
        }
      }
      return new Tensor(outShape, out);
    },
    vjp(node, cotangent, needed) {
      const [x, s, t] = node.inputs as [Node, Node, Node];
      if (channelLayout(x, s, t, cotangent)) {
        return activeTape() ? affineBackwardRecorded(node, cotangent, relu, needed) : affineBackwardSweep(node, cotangent, relu, needed);
      }
      const g = relu ? reluGrad(cotangent, node) : cotangent;
      return [needed[0] ? mul(g, s) : null, needed[1] ? mulSumTo(g, x, s.shape) : null, needed[2] ? sumTo(g, t.shape) : null];
    },
  };
}

const channelAffineOp = affineOp(false);
const channelAffineReluOp = affineOp(true);

/**
 * x·s + t with s and t per channel ([1, C, 1, 1]) over an NCHW x, and with `relu` max(that, 0):
 * batch norm's affine map (and the ReLU after it) as one primitive, its value in one pass. Its
 * tangent takes one pass over the block (and one more for the ReLU's gate), its cotangent one
 * sweep for the affine map and the ReLU together (recorded or not), and the tangent of a recorded
 * cotangent one more; the numbers are those of relu(channelAffine(x, s, t)).
 */
export function channelAffine(x: Node, s: Node, t: Node, relu = false): Node {
  // with the ReLU, one pass writes max(x·s + t, 0): the bits of the affine map and then a Max pass
  const out = new Tensor(x.shape, valueBuffer(x.value.size));
  muladdInto(operand(x.value.data, x.shape), operand(s.value.data, s.shape), null, operand(t.value.data, t.shape), out.data, x.shape, relu ? 'relu' : 'set');
  return makeNode(relu ? channelAffineReluOp : channelAffineOp, [x, s, t], out);
}

/**
 * Batch normalisation over NCHW (per channel), composed of primitives so that its gradient and
 * its second derivatives come from the primitives' rules.
 * - train: batch statistics, differentiated through (the mean and variance depend on the weights);
 * - eval: running statistics, constants: y = x·γ/sqrt(var+eps) + (β − mean·γ/sqrt(var+eps)).
 * With `relu`, the output is max(y, 0), the ReLU that follows batch norm in a CNN, in the same primitive.
 */
export function batchNorm2d(
  x: Node,
  weight: Node,
  bias: Node,
  runningMean: Tensor,
  runningVar: Tensor,
  mode: 'train' | 'eval',
  eps = 1e-5,
  relu = false,
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
    return { output: channelAffine(x, scaleC, shift, relu) };
  }
  const mu = mean(x, [0, 2, 3], true);
  const centered = sub(x, mu);
  // Σ centered² per channel in float64 straight from the products: no squared copy of the batch
  const count = x.value.size / C;
  const variance = scale(mulSumTo(centered, centered, perChannel), 1 / count);
  const invStd = rsqrt(addScalar(variance, eps));
  // y = x·α + (β − μ·α), α = γ/σ: PyTorch's own arithmetic for batch norm, in one pass over x
  const alpha = mul(invStd, gamma);
  const output = channelAffine(x, alpha, sub(beta, mul(mu, alpha)), relu);
  return { output, batchMean: mu.value.data.slice(), batchVar: variance.value.data.slice() };
}

import type { Node } from '../autodiff/index.js';
import { constant } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { formatShape, Tensor } from '../tensor/index.js';
import { add, addScalar, mean, mul, reshape, sub } from './arithmetic.js';
import { rsqrt } from './unary.js';

export interface BatchNormResult {
  output: Node;
  /** the batch mean and biased variance per channel (train mode), for the running-statistics update */
  batchMean?: Float32Array;
  batchVar?: Float32Array;
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
    return { output: add(mul(x, scaleC), shift) };
  }
  const mu = mean(x, [0, 2, 3], true);
  const centered = sub(x, mu);
  const variance = mean(mul(centered, centered), [0, 2, 3], true);
  const invStd = rsqrt(addScalar(variance, eps));
  const output = add(mul(mul(centered, invStd), gamma), beta);
  return { output, batchMean: mu.value.data.slice(), batchVar: variance.value.data.slice() };
}

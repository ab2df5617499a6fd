import { constant, SecondOrderContext, valueAndGrad, withValuePool, type Node, type Objective } from '../autodiff/index.js';
import { ShapeError } from '../errors.js';
import { crossEntropy, mse } from '../ops/index.js';
import { Tensor } from '../tensor/index.js';
import type { Model } from './model.js';
import type { BnMode } from './module.js';

export type LossKind = 'cross-entropy' | 'mse';

/** One batch: inputs (NCHW images or [N, features]) and integer labels. */
export interface Batch {
  x: Tensor;
  y: Int32Array;
}

export interface ObjectiveOptions {
  /** BN statistics: 'eval' (running statistics, PyHessian's default) or 'train' (batch statistics) */
  bnMode?: BnMode;
  loss?: LossKind;
}

/** The loss of `model` on `batch` as a function of parameter nodes, with the logits as outputs. */
export function modelObjective(model: Model, batch: Batch, opts: ObjectiveOptions = {}) {
  const mode = opts.bnMode ?? 'eval';
  const lossKind = opts.loss ?? 'cross-entropy';
  let stats: ReturnType<Model['forward']>['bnStats'] | undefined;
  const f = (params: Parameters<Model['forward']>[0]): Objective => {
    const { logits, bnStats } = model.forward(params, batch.x, mode);
    stats = bnStats;
    if (lossKind === 'mse') {
      const classes = logits.shape[1]!;
      const onehot = new Float32Array(batch.y.length * classes);
      batch.y.forEach((c, i) => (onehot[i * classes + c] = 1));
      return { loss: mse(logits, new Tensor(logits.shape, onehot)), outputs: logits };
    }
    return { loss: crossEntropy(logits, batch.y), outputs: logits };
  };
  return { f, bnStats: () => stats };
}

/** Loss, flat gradient and logits of `model` on one batch (one forward and one backward pass). */
export function lossAndGradient(model: Model, batch: Batch, opts: ObjectiveOptions = {}) {
  const { f, bnStats } = modelObjective(model, batch, opts);
  const r = valueAndGrad(model.theta, model.shapes, f);
  return { loss: r.loss, gradient: r.gradient, logits: r.outputs!, bnStats: bnStats()! };
}

/**
 * The loss, gradient and exact curvature products of `model` on one fixed batch: the primal
 * forward and backward passes run once here and every hvp / hvpBlock / ggnBlock reuses them.
 * The weights are read now; change them and build a new context.
 */
export function secondOrder(model: Model, batch: Batch, opts: ObjectiveOptions = {}): SecondOrderContext {
  return new SecondOrderContext(model.theta, model.shapes, modelObjective(model, batch, opts).f);
}

/** How many rows of [N, C] logits have their largest value at the label (ties: the first). */
export function top1Correct(logits: Tensor, y: Int32Array): number {
  const [n, c] = logits.shape as [number, number];
  const z = logits.data;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < c; j++) if (z[i * c + j]! > z[i * c + best]!) best = j;
    if (best === y[i]) correct++;
  }
  return correct;
}

/**
 * The loss and top-1 accuracy of `model` on a batch with the parameters `theta` (the model's own
 * by default): a forward pass only, nothing recorded. BN in train mode uses the batch statistics
 * and leaves the running statistics alone.
 */
export function evaluateBatch(model: Model, batch: Batch, opts: ObjectiveOptions & { theta?: Float32Array } = {}): { loss: number; accuracy: number; samples: number } {
  const theta = opts.theta ?? model.theta;
  if (theta.length !== model.size) throw new ShapeError(`a parameter vector of ${theta.length} values was given for a model with ${model.size}`);
  const params = model.blocks.map((b) => constant(new Tensor(b.shape, theta.subarray(b.offset, b.offset + b.length))));
  const { f } = modelObjective(model, batch, opts);
  // nothing of the pass outlives it, so all of its buffers go back to the pool
  return withValuePool(
    () => {
      const { loss, outputs } = f(params) as { loss: Node; outputs: Node };
      const n = outputs.shape[0]!;
      return { loss: loss.value.data[0]!, accuracy: top1Correct(outputs.value, batch.y) / n, samples: n };
    },
    () => [],
  );
}

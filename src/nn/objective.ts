import { constant, SecondOrderContext, valueAndGrad, type Node, type Objective } from '../autodiff/index.js';
import { DTypeError, OptionError, ShapeError } from '../errors.js';
import { crossEntropy, mse, reshape } from '../ops/index.js';
import { formatShape, Tensor } from '../tensor/index.js';
import type { Model } from './model.js';
import type { BnMode } from './module.js';

export type LossKind = 'cross-entropy' | 'mse';

/**
 * One batch: inputs (NCHW images, [N, features], or [N, T] token ids held exactly in float32) and
 * targets, flat in row-major order:
 * - class labels, Int32Array of N (the default);
 * - token labels, Int32Array of N·T with `yShape` [N, T]: the output is [N, T, V] and the
 *   cross-entropy averages over every target token (those equal to `ignoreIndex` left out);
 * - regression targets, Float32Array with `yShape` the output's shape (the mean squared error).
 */
export interface Batch {
  x: Tensor;
  y: Int32Array | Float32Array;
  /** the shape of y when it is not [N] */
  yShape?: readonly number[];
  /** what x holds when the data says so: 'int' for token ids; a model that takes the other kind refuses the batch */
  xKind?: 'float' | 'int';
}

export interface ObjectiveOptions {
  /** BN statistics: 'eval' (running statistics, PyHessian's default) or 'train' (batch statistics) */
  bnMode?: BnMode;
  /** 'cross-entropy' (default) for class or token labels; 'mse' for float targets (or one-hot class labels) */
  loss?: LossKind;
  /** cross-entropy only: targets equal to this (padding) are left out of the mean, as PyTorch's ignore_index */
  ignoreIndex?: number;
}

/** The number of samples (rows of x) in a batch, whatever shape its targets have. */
export function batchSize(batch: Batch): number {
  return batch.x.shape[0] ?? 0;
}

function targetShape(batch: Batch): readonly number[] {
  return batch.yShape ?? [batch.y.length];
}

/**
 * The outputs as rows of class scores against one label each: [N, C] against N labels, or
 * [N, T, V] (a language model) against N·T token labels.
 */
function classRows(outputs: Node, batch: Batch): Node {
  const ys = targetShape(batch);
  const s = outputs.shape;
  if (s.length === 2 && ys.length === 1 && ys[0] === s[0]) return outputs;
  if (s.length === 3 && ys.length === 2 && ys[0] === s[0] && ys[1] === s[1]) return reshape(outputs, [s[0]! * s[1]!, s[2]!]);
  throw new ShapeError(`cross-entropy: the outputs ${formatShape(s)} do not fit the labels ${formatShape(ys)} (expected [N, C] outputs for N labels or [N, T, V] for [N, T] token labels)`);
}

/** The loss of the outputs against the batch's targets. */
export function lossOf(outputs: Node, batch: Batch, opts: Pick<ObjectiveOptions, 'loss' | 'ignoreIndex'> = {}): Node {
  const kind = opts.loss ?? 'cross-entropy';
  if (kind === 'mse') {
    if (batch.y instanceof Float32Array) {
      if (batch.y.length !== outputs.value.size) {
        throw new ShapeError(`mse: the targets ${formatShape(targetShape(batch))} do not fit the outputs ${formatShape(outputs.shape)} (${batch.y.length} values for ${outputs.value.size})`);
      }
      return mse(outputs, new Tensor(outputs.shape, batch.y));
    }
    if (outputs.shape.length !== 2) throw new ShapeError(`mse against class labels needs [N, C] outputs, got ${formatShape(outputs.shape)}; give float targets for other outputs`);
    const classes = outputs.shape[1]!;
    const onehot = new Float32Array(batch.y.length * classes);
    batch.y.forEach((c, i) => (onehot[i * classes + c] = 1));
    return mse(outputs, new Tensor(outputs.shape, onehot));
  }
  if (kind !== 'cross-entropy') throw new OptionError(`unknown loss '${String(kind)}' (choose cross-entropy or mse)`);
  if (!(batch.y instanceof Int32Array)) throw new DTypeError('cross-entropy needs integer class or token labels, but the targets are floats; use the mse loss for regression');
  return crossEntropy(classRows(outputs, batch), batch.y, opts.ignoreIndex === undefined ? {} : { ignoreIndex: opts.ignoreIndex });
}

/** The loss of `model` on `batch` as a function of parameter nodes, with the logits as outputs. */
export function modelObjective(model: Model, batch: Batch, opts: ObjectiveOptions = {}) {
  const mode = opts.bnMode ?? 'eval';
  let stats: ReturnType<Model['forward']>['bnStats'] | undefined;
  const f = (params: Parameters<Model['forward']>[0]): Objective => {
    const { logits, bnStats } = model.forward(params, batch.x, mode, batch.xKind);
    stats = bnStats;
    return { loss: lossOf(logits, batch, opts), outputs: logits };
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

/**
 * How many rows of logits have their largest value at the label (ties: the first): [N, C] against
 * N labels, or any [..., C] against one label per row; rows labelled `ignoreIndex` do not count.
 */
export function top1Correct(logits: Tensor, y: Int32Array, ignoreIndex?: number): number {
  const c = logits.shape.at(-1)!;
  const n = logits.size / c;
  const z = logits.data;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    if (y[i] === ignoreIndex) continue;
    let best = 0;
    for (let j = 1; j < c; j++) if (z[i * c + j]! > z[i * c + best]!) best = j;
    if (best === y[i]) correct++;
  }
  return correct;
}

/**
 * The loss and top-1 accuracy of `model` on a batch with the parameters `theta` (the model's own
 * by default): a forward pass only, nothing recorded. BN in train mode uses the batch statistics
 * and leaves the running statistics alone. Token labels count per target token (padding left
 * out); float targets have no accuracy (NaN).
 */
export function evaluateBatch(model: Model, batch: Batch, opts: ObjectiveOptions & { theta?: Float32Array } = {}): BatchEvaluation {
  const theta = opts.theta ?? model.theta;
  if (theta.length !== model.size) throw new ShapeError(`a parameter vector of ${theta.length} values was given for a model with ${model.size}`);
  const params = model.blocks.map((b) => constant(new Tensor(b.shape, theta.subarray(b.offset, b.offset + b.length))));
  const { f } = modelObjective(model, batch, opts);
  const { loss, outputs } = f(params) as { loss: Node; outputs: Node };
  const n = outputs.shape[0]!;
  if (!(batch.y instanceof Int32Array)) return { loss: loss.value.data[0]!, accuracy: NaN, samples: n, correct: NaN, targets: batch.y.length };
  let counted = 0;
  for (const t of batch.y) if (t !== opts.ignoreIndex) counted++;
  const correct = top1Correct(outputs.value, batch.y, opts.ignoreIndex);
  return { loss: loss.value.data[0]!, accuracy: correct / counted, samples: n, correct, targets: counted };
}

export interface BatchEvaluation {
  /** the mean loss over the batch (over its counted targets, for token labels) */
  loss: number;
  /** correct / targets; NaN for float targets */
  accuracy: number;
  /** rows of the batch (N) */
  samples: number;
  /** targets whose top-1 prediction is right; NaN for float targets */
  correct: number;
  /** targets counted: one per row for class labels, the tokens that are not the ignore index for token labels */
  targets: number;
}

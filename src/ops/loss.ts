import type { Node } from '../autodiff/index.js';
import { DTypeError, ShapeError } from '../errors.js';
import { formatShape } from '../tensor/index.js';
import { constant } from '../autodiff/index.js';
import { mean, mul, scale, sub, sum } from './arithmetic.js';
import { take } from './gather.js';
import { logSoftmax } from './softmax.js';
import { Tensor } from '../tensor/index.js';

function checkLabels(logits: Node, labels: Int32Array | readonly number[], ignoreIndex: number | undefined): Int32Array {
  if (logits.shape.length !== 2) throw new ShapeError(`cross-entropy expects [N, C] logits, got ${formatShape(logits.shape)}`);
  const [n, c] = logits.shape as [number, number];
  if (labels.length !== n) throw new ShapeError(`cross-entropy: ${n} rows of logits but ${labels.length} labels`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!Number.isInteger(y)) throw new DTypeError(`cross-entropy: label ${i} is ${y}, not an integer class index`);
    if (y !== ignoreIndex && (y < 0 || y >= c)) throw new ShapeError(`cross-entropy: label ${i} is ${y}, outside the ${c} classes 0..${c - 1}`);
    out[i] = y;
  }
  return out;
}

export interface CrossEntropyOptions {
  /** rows whose label equals this are left out of the sum and the count (PyTorch's ignore_index) */
  ignoreIndex?: number;
}

/**
 * Mean cross-entropy of [N, C] logits against integer labels (torch.nn.functional.cross_entropy):
 * the mean over the rows whose label is not `ignoreIndex`.
 */
export function crossEntropy(logits: Node, labels: Int32Array | readonly number[], opts: CrossEntropyOptions = {}): Node {
  const y = checkLabels(logits, labels, opts.ignoreIndex);
  const [n, c] = logits.shape as [number, number];
  const rows: number[] = [];
  for (let i = 0; i < n; i++) if (y[i] !== opts.ignoreIndex) rows.push(i * c + y[i]!);
  if (rows.length === 0) throw new ShapeError(`cross-entropy: every one of the ${n} labels equals the ignore index ${opts.ignoreIndex}, so there is no target to average over`);
  const picked = take(logSoftmax(logits), Int32Array.from(rows), [rows.length]);
  return scale(sum(picked), -1 / rows.length);
}

/** Mean squared error over all elements (torch.nn.functional.mse_loss). */
export function mse(prediction: Node, target: Tensor | Node): Node {
  const t = target instanceof Tensor ? constant(target) : target;
  if (prediction.value.size !== t.value.size) {
    throw new ShapeError(`mse: prediction ${formatShape(prediction.shape)} and target ${formatShape(t.shape)} differ in size`);
  }
  const d = sub(prediction, t);
  return mean(mul(d, d));
}

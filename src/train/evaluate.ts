/**
 * The mean cross-entropy and top-1 accuracy of a model on a whole dataset, forward passes only.
 * The mean is over samples (each batch weighted by its size) and is accumulated in float64.
 */
import { DataLoader, type Dataset, type Normalization } from '../data/index.js';
import { OptionError } from '../errors.js';
import { evaluateBatch, type BnMode, type Model } from '../nn/index.js';

export interface EvaluateOptions {
  /** default 256, PyHessian's test batch size */
  batchSize?: number;
  /** per-channel normalisation applied to every batch, e.g. CIFAR10_NORMALIZATION */
  normalize?: Normalization | null;
  /** default 'eval' (running statistics); 'train' uses each batch's statistics and leaves the running ones alone */
  bnMode?: BnMode;
}

export interface Evaluation {
  /** mean cross-entropy per sample; NaN or ±Infinity when the model's outputs are not finite */
  loss: number;
  /** fraction of samples whose largest logit is at the label, in [0, 1] */
  accuracy: number;
  count: number;
}

export function modelClassCount(model: Model): number {
  const d = model.description;
  if (d.arch === 'resnet') return d.classes;
  if (d.arch === 'mlp') return d.sizes.at(-1)!;
  // an imported graph: the last dimension of its output, when the file states it
  const last = d.output.dims.at(-1);
  return typeof last === 'number' && last > 0 ? last : Infinity;
}

export function checkClassCount(model: Model, dataset: Dataset): void {
  const classes = modelClassCount(model);
  if (dataset.classes > classes) {
    throw new OptionError(`${dataset.name} has ${dataset.classes} classes but the model has ${classes} outputs; build the model with ${dataset.classes} classes`);
  }
}

export function evaluate(model: Model, dataset: Dataset, options: EvaluateOptions = {}): Evaluation {
  if (dataset.length === 0) throw new OptionError(`cannot evaluate on ${dataset.name}: it has no samples`);
  checkClassCount(model, dataset);
  const loader = new DataLoader(dataset, { batchSize: options.batchSize ?? 256, shuffle: false, normalize: options.normalize ?? null, augment: false });
  const bnMode = options.bnMode ?? 'eval';
  let lossSum = 0;
  let hits = 0;
  for (const batch of loader.epoch(0)) {
    const r = evaluateBatch(model, batch, { bnMode });
    lossSum += r.loss * r.samples;
    hits += Math.round(r.accuracy * r.samples);
  }
  return { loss: lossSum / dataset.length, accuracy: hits / dataset.length, count: dataset.length };
}

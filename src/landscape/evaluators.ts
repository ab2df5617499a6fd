import { evaluateBatch, type Batch, type BnMode, type LossKind, type Model } from '../nn/index.js';
import type { Evaluator } from './surface.js';

/** Loss and accuracy on one fixed batch. */
export function batchEvaluator(model: Model, batch: Batch, opts: { bnMode?: BnMode; loss?: LossKind } = {}): Evaluator {
  return (theta) => evaluateBatch(model, batch, { ...opts, theta });
}

/** Loss and accuracy averaged over every sample of a dataset (batches weighted by size). */
export function datasetEvaluator(model: Model, source: { batches(): Iterable<Batch> }, opts: { bnMode?: BnMode; loss?: LossKind } = {}): Evaluator {
  return (theta) => {
    let loss = 0, correct = 0, n = 0;
    for (const batch of source.batches()) {
      const r = evaluateBatch(model, batch, { ...opts, theta });
      loss += r.loss * r.samples;
      correct += r.accuracy * r.samples;
      n += r.samples;
    }
    return { loss: loss / n, accuracy: correct / n };
  };
}

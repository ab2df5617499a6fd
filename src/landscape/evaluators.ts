import { evaluateBatch, type Batch, type Model, type ObjectiveOptions } from '../nn/index.js';
import type { Evaluator } from './surface.js';

/**
 * Loss and accuracy on one fixed batch. A whole dataset's come from its executor
 * (`ShardExecutor.losses`), where its products run.
 */
export function batchEvaluator(model: Model, batch: Batch, opts: ObjectiveOptions = {}): Evaluator {
  return (theta) => evaluateBatch(model, batch, { ...opts, theta });
}

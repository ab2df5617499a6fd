import type { ResolvedObjective } from '../curvature/index.js';
import { TensorSet, type AnyDataset } from '../data/index.js';
import { DTypeError, HesseError, OptionError } from '../errors.js';
import { checkClassCount, describeModel, modelClassCount, type Model } from '../nn/index.js';

/**
 * Checks, before any work, that the data fits the model and the loss: the inputs (their shape
 * and kind, on the first sample) and the targets, which are integer labels inside the model's
 * outputs (or equal to the ignore index), or floats for the mean squared error. What only a
 * forward pass can tell (a token id beyond the embedding table, float targets of another shape
 * than the outputs) is reported by the first pass, the loss at the analysed weights.
 */
export function checkDataFits(model: Model, dataset: AnyDataset, objective: ResolvedObjective): void {
  if (dataset.length === 0) throw new OptionError(`${dataset.name} holds no samples`);
  const first = dataset.get([0]);
  try {
    model.checkInput(first.x, 'xKind' in first ? first.xKind : undefined);
  } catch (e) {
    if (!(e instanceof HesseError)) throw e;
    const Ctor = e.constructor as new (message: string) => HesseError;
    throw new Ctor(`${dataset.name}: ${e.message}`);
  }
  if (dataset instanceof TensorSet) checkTargets(model, dataset, objective);
  else checkClassCount(model, dataset);
}

function checkTargets(model: Model, dataset: TensorSet, objective: ResolvedObjective): void {
  const y = dataset.targets();
  if (y instanceof Float32Array) {
    if (objective.loss === 'cross-entropy') {
      throw new DTypeError(`${dataset.name} holds float targets, which the cross-entropy cannot take (it needs integer class or token labels); use the mse loss for regression`);
    }
    return;
  }
  const outputs = modelClassCount(model);
  const per = dataset.targetShape.reduce((a, b) => a * b, 1);
  const ignore = objective.ignoreIndex;
  for (let i = 0; i < y.length; i++) {
    const v = y[i]!;
    if (v === ignore || (v >= 0 && v < outputs)) continue;
    const where = per > 1 ? `sample ${Math.floor(i / per)}, position ${i % per}` : `sample ${i}`;
    const range = Number.isFinite(outputs) ? `outside the ${outputs} outputs 0..${outputs - 1} of ${describeModel(model.description)}` : 'not a class number';
    const hint =
      v < 0 && ignore === undefined && objective.loss === 'cross-entropy'
        ? `; if ${v} marks padding, give it as the ignore index (PyTorch's ignore_index)`
        : ignore !== undefined
          ? ` and not the ignore index ${ignore}`
          : '';
    throw new OptionError(`${dataset.name}: label ${v} (${where}) is ${range}${hint}`);
  }
}

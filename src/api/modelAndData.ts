import { resolve } from 'node:path';
import { TensorSet, type AnyDataset, type Normalization } from '../data/index.js';
import { checkClassCount, type Model } from '../nn/index.js';
import { choice } from './check.js';
import type { InputsDescription } from './commandResults.js';
import { defaultNormalization, openDataArg } from './dataArg.js';
import { loadModelArg } from './modelArg.js';

export const SPLITS = ['train', 'test'] as const;

export interface ModelAndDataOptions {
  /** a model file: .safetensors (hesse's or PyTorch's state dict) or .onnx (a graph exported from any framework) */
  model: string;
  /** the architecture when the file does not say (resnet20, mlp:784-100-10:tanh, JSON) */
  arch?: string;
  /** a data source: synthetic[:N], cifar10[:DIR], cifar100[:DIR] or a .safetensors file (images, token sequences, features with float targets) */
  data: string;
  /** which split of the data; default 'train', the split PyHessian takes the Hessian of */
  split?: (typeof SPLITS)[number];
  /** the seed of the synthetic set */
  seed?: number;
  /** how the architecture was found, when it was inferred or overridden */
  onNote?: (line: string) => void;
}

export interface ModelAndData {
  model: Model;
  dataset: AnyDataset;
  /** what the model was trained with (its file says), or the data's default */
  normalize: Normalization | null;
  /** how the results describe them */
  inputs: InputsDescription;
}

/**
 * The model (saying how its architecture was found) and the data, with the normalisation the
 * model was trained with, or the data's default when the file does not say.
 */
export async function openModelAndData(o: ModelAndDataOptions): Promise<ModelAndData> {
  const split = choice('the data split', o.split, SPLITS, 'train');
  const m = await loadModelArg(o.model, o.arch);
  for (const note of m.notes) o.onNote?.(note);
  const data = await openDataArg(o.data, split, o.seed ?? 0);
  // a tensor set's labels are checked against the outputs with the loss, which may ignore some (resolveCurvatureData)
  if (!(data.dataset instanceof TensorSet)) checkClassCount(m.model, data.dataset);
  const normalize = m.normalization !== undefined ? m.normalization : defaultNormalization(data.spec);
  return {
    model: m.model,
    dataset: data.dataset,
    normalize,
    inputs: {
      model: { description: m.description, file: resolve(o.model), parameters: m.model.size, inferred: m.notes.some((n) => n.startsWith('inferred')) },
      data: { description: data.description, source: o.data, ...(data.dataset instanceof TensorSet ? {} : { classes: data.dataset.classes }) },
    },
  };
}

import { OptionError } from '../../errors.js';
import type { AnyModelDescription, Model } from '../model.js';
import { mlp } from './mlp.js';
import { resnet } from './resnet.js';
import { onnxModel } from '../onnx/graphModel.js';

export { resnet, type ResNetOptions } from './resnet.js';
export { mlp, type MlpOptions } from './mlp.js';
export { MAX_PARAMETERS, parameterCount, validateDescription } from './description.js';

/** Builds a freshly initialised model from its description. */
export function buildModel(d: AnyModelDescription, seed = 0): Model {
  switch (d.arch) {
    case 'resnet':
      return resnet({ ...d, seed });
    case 'mlp':
      return mlp({ ...d, seed });
    case 'onnx':
      return onnxModel(d, seed);
    default:
      throw new OptionError(`unknown architecture '${(d as { arch: string }).arch}' (known: resnet, mlp, onnx)`);
  }
}

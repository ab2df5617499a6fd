export * from './dataset.js';
export * from './spec.js';
export * from './cifar.js';
export * from './download.js';
export * from './synthetic.js';
export * from './normalize.js';
export * from './augment.js';
export * from './loader.js';
export { TensorSet, type TensorSetInit, type TensorSetSpec } from './tensorSet.js';

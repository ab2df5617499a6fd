export * from './module.js';
export * from './layers.js';
export * from './model.js';
export * from './objective.js';
export * from './models/index.js';
export * from './onnx/index.js';

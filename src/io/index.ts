export * from './safetensors.js';
export * from './checkpoint.js';
export * from './trainCheckpoint.js';
export * from './tensorDataset.js';
export * from './openDataset.js';
export * from './onnx.js';

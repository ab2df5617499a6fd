export * from './tensor.js';
export * from './rng.js';

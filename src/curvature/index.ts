export * from './operators.js';
export * from './blocks.js';

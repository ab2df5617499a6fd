export * from './options.js';
export * from './shardPlan.js';
export * from './batchProducts.js';
export * from './executor.js';
export * from './localExecutor.js';
export * from './operators.js';
export * from './blocks.js';

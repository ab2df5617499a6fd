export * from './sgd.js';
export * from './schedule.js';
export * from './state.js';
export * from './validateResumeState.js';
export * from './divergence.js';
export * from './evaluate.js';
export * from './train.js';

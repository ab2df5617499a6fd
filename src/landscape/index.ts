export * from './directions.js';
export * from './surface.js';
export * from './evaluators.js';

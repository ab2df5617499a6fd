// Shard plans are part of the curvature road (curvature/shardPlan.ts); this path stays for the parallel/ code that names it.
export * from '../curvature/shardPlan.js';

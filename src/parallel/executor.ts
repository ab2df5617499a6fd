// The executor interface belongs to the curvature road (curvature/executor.ts): parallel/ implements it.
export {
  checkVectors,
  combineShardLosses,
  combineShardSums,
  executorOperator,
  meteredProducts,
  resolveProblem,
  type ExecutorFactory,
  type ExecutorStats,
  type LossResult,
  type ResolvedProblem,
  type ShardExecutor,
  type ShardProblem,
} from '../curvature/index.js';

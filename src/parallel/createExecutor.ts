import { clusterExecutor } from './clusterExecutor.js';
import type { ClusterOptions } from './clusterOptions.js';
import { inProcessExecutor, type ShardExecutor, type ShardProblem } from '../curvature/index.js';
import { threadExecutor } from './threadExecutor.js';

export interface ExecutorOptions {
  /** local workers: 1 runs in this thread; default one thread per core (in this thread when the dataset has no spec) */
  workers?: number;
  /** run on a Redis + BullMQ cluster instead (`--cluster redis://...`) */
  cluster?: ClusterOptions;
  /** bytes of primal passes kept across products (default 4 GiB; per process on a cluster, set on the workers) */
  cacheBytes?: number;
}

/** The executor the options ask for: a cluster coordinator, local worker threads, or this thread. */
export async function createExecutor(problem: ShardProblem, opts: ExecutorOptions = {}): Promise<ShardExecutor> {
  if (opts.cluster) return clusterExecutor(problem, opts.cluster);
  const cache = opts.cacheBytes !== undefined ? { cacheBytes: opts.cacheBytes } : {};
  if (opts.workers === 1 || (opts.workers === undefined && !problem.dataset.spec)) return inProcessExecutor(problem, cache);
  return threadExecutor(problem, { ...cache, ...(opts.workers !== undefined ? { workers: opts.workers } : {}) });
}

import { availableParallelism } from 'node:os';
import type { DatasetSpec } from '../data/index.js';
import { OptionError, ShapeError } from '../errors.js';
import { combineShardLosses, combineShardSums, DEFAULT_CACHE_BYTES, meteredProducts, resolveProblem, type ExecutorStats, type ShardExecutor, type ShardProblem, type ShardRange } from '../curvature/index.js';
import { encodeModelBlob } from './modelBlob.js';
import type { ShardTask } from './shardWorkspace.js';
import { ThreadPool } from './threadPool.js';
import type { ThreadRequest } from './threadProtocol.js';

export interface ThreadOptions {
  /** worker threads (default: one per core, at most one per shard) */
  workers?: number;
  /** bytes of primal passes kept across products, all threads together (default 4 GiB) */
  cacheBytes?: number;
}

/** A dataset must be loadable from its spec in another thread; in-memory sets are not shipped. */
export function requireSpec(problem: ShardProblem, where: string): DatasetSpec {
  const spec = problem.dataset.spec;
  if (!spec) {
    throw new OptionError(
      `dataset ${problem.dataset.name} was built in memory and cannot be loaded by ${where}; save it with saveTensorDataset and open it with loadTensorDataset, or compute in this thread (one worker)`,
    );
  }
  return spec;
}

/** Assigns shards to workers, largest first onto the least loaded, so sample counts even out. */
export function assignShards(shards: readonly ShardRange[], workers: number): number[] {
  const load = new Array<number>(workers).fill(0);
  const owner = new Array<number>(shards.length).fill(0);
  const order = shards.map((_, i) => i).sort((a, b) => shards[b]!.end - shards[b]!.start - (shards[a]!.end - shards[a]!.start) || a - b);
  for (const s of order) {
    let best = 0;
    for (let w = 1; w < workers; w++) if (load[w]! < load[best]!) best = w;
    owner[s] = best;
    load[best]! += shards[s]!.end - shards[s]!.start;
  }
  return owner;
}

function sharedCopy(data: Float32Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(data.byteLength);
  new Float32Array(sab).set(data);
  return sab;
}

/**
 * Shards over local worker threads. Each thread is its own one-thread piscina pool, so a shard is
 * pinned to one thread and its primal passes stay cached there while the weights are unchanged.
 */
export async function threadExecutor(problem: ShardProblem, opts: ThreadOptions = {}): Promise<ShardExecutor> {
  const r = resolveProblem(problem);
  const spec = requireSpec(problem, 'worker threads');
  const wanted = opts.workers ?? availableParallelism();
  if (!Number.isInteger(wanted) || wanted < 1) throw new OptionError(`the number of workers must be a positive integer, got ${wanted}`);
  const count = Math.min(wanted, r.plan.shards.length);
  const cacheBytes = Math.floor((opts.cacheBytes ?? DEFAULT_CACHE_BYTES) / count);
  const pool = new ThreadPool(count, cacheBytes);
  // both snapshots now, before the first await: weights changed in place while the pool starts do not leak in
  const blob = encodeModelBlob(problem.model);
  const start = sharedCopy(problem.model.theta);
  const n = problem.model.size;
  const owner = assignShards(r.plan.shards, count);
  const tasks: ShardTask[] = r.plan.shards.map((shard) => ({
    ...r.objective,
    modelHash: blob.hash,
    datasetKey: JSON.stringify(spec),
    normalize: r.normalize,
    shard,
    batchSize: r.plan.batchSize,
    kind: r.kind,
    maxBlock: r.maxBlock,
  }));
  try {
    await pool.loadModel(blob.hash, blob.bytes);
  } catch (e) {
    await pool.destroy();
    throw e;
  }
  let closed = false;
  const run = async <T>(w: number, req: ThreadRequest, where: string): Promise<T> => {
    if (closed) throw new OptionError('this executor was closed');
    return pool.run<T>(w, req, where);
  };

  let version = 0;
  let theta = { id: 'v0', buffer: start };
  const stats: ExecutorStats = { products: 0, shardProducts: 0, ms: 0 };
  const where = (s: number) => `shard [${tasks[s]!.shard.start}, ${tasks[s]!.shard.end}) in worker thread ${owner[s]}`;

  return {
    size: n,
    info: r.info,
    stats,
    products: (vs) =>
      meteredProducts(stats, n, tasks.length, vs, async (block) => {
        const k = block.length;
        const vectors = new SharedArrayBuffer(k * n * 4);
        const all = new Float32Array(vectors);
        block.forEach((v, j) => all.set(v, j * n));
        const at = theta;
        const parts = await Promise.all(tasks.map((task, s) => run<Float64Array>(owner[s]!, { op: 'product', task, spec, theta: at, vectors, k }, where(s))));
        return combineShardSums(parts, k, n, r.info.samples);
      }),
    async losses(at) {
      const w = at ?? new Float32Array(theta.buffer);
      if (w.length !== n) throw new ShapeError(`weights of length ${w.length} were given for a model of ${n} parameters`);
      const shared = sharedCopy(w);
      const parts = await Promise.all(
        tasks.map((task, s) =>
          run<{ lossSum: number; correct: number; samples: number }>(owner[s]!, { op: 'loss', task, spec, theta: shared }, where(s)),
        ),
      );
      // shard order, so the float64 sum is the same whichever thread finished first
      return combineShardLosses(parts);
    },
    async setWeights(next) {
      if (next.length !== n) throw new ShapeError(`weights of length ${next.length} were given for a model of ${n} parameters`);
      // a fresh buffer each time: requests still reading the old weights keep them intact
      theta = { id: `v${++version}`, buffer: sharedCopy(next) };
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.destroy();
    },
  };
}

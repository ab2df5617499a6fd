import { ShapeError } from '../errors.js';
import { checkVectors, combineShardSums, resolveProblem, type ExecutorStats, type LossResult, type ShardExecutor, type ShardProblem } from './executor.js';
import { decodeModelBlob, encodeModelBlob } from './modelBlob.js';
import { ShardWorkspace, type ShardTask } from './shardWorkspace.js';

export interface InProcessOptions {
  /** bytes of primal passes kept across products (default 4 GiB) */
  cacheBytes?: number;
}

/** Every shard in this thread, one after another (`--workers 1`); the reference the others must match. */
export function inProcessExecutor(problem: ShardProblem, opts: InProcessOptions = {}): ShardExecutor {
  const r = resolveProblem(problem);
  // A private copy of the model: setWeights must not move the caller's.
  const blob = encodeModelBlob(problem.model);
  const model = decodeModelBlob(blob.bytes, 'the model');
  const workspace = new ShardWorkspace(opts.cacheBytes ?? 4 * 2 ** 30);
  workspace.addModel(blob.hash, model);
  const n = model.size;
  let theta = { id: 'v0', data: Float32Array.from(model.theta) };
  let version = 0;
  const stats: ExecutorStats = { products: 0, shardProducts: 0, ms: 0 };
  const tasks: ShardTask[] = r.plan.shards.map((shard) => ({
    modelHash: blob.hash,
    datasetKey: 'in-memory',
    normalize: r.normalize,
    shard,
    batchSize: r.plan.batchSize,
    bnMode: r.bnMode,
    loss: r.loss,
    kind: r.kind,
    maxBlock: r.maxBlock,
  }));
  return {
    size: n,
    info: r.info,
    stats,
    async products(vs) {
      checkVectors(vs, n);
      if (vs.length === 0) return [];
      const t0 = performance.now();
      const parts = tasks.map((task) => workspace.product(problem.dataset, task, theta, vs).sums);
      stats.shardProducts += tasks.length;
      stats.products += vs.length;
      stats.ms += performance.now() - t0;
      return combineShardSums(parts, vs.length, n, r.info.samples);
    },
    async losses(at) {
      const w = at ?? theta.data;
      if (w.length !== n) throw new ShapeError(`weights of length ${w.length} were given for a model of ${n} parameters`);
      let lossSum = 0, correct = 0, samples = 0;
      for (const task of tasks) {
        const s = workspace.evaluate(problem.dataset, task, w);
        lossSum += s.lossSum;
        correct += s.correct;
        samples += s.samples;
      }
      return { loss: lossSum / samples, accuracy: correct / samples, samples } satisfies LossResult;
    },
    async setWeights(next) {
      if (next.length !== n) throw new ShapeError(`weights of length ${next.length} were given for a model of ${n} parameters`);
      theta = { id: `v${++version}`, data: Float32Array.from(next) };
    },
    async close() {},
  };
}

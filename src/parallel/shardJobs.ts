/**
 * What a worker does with one shard job: it checks the job against the run it was admitted to and
 * against its limits (jobGate.ts), finds the dataset inside its roots, leaves the job for a while
 * to the worker that holds the shard's primal passes (affinityWait.ts), computes the product or
 * loss on the shard's thread, and puts the partial sums back into Redis. A job that is wrong is
 * refused for good (never retried elsewhere); anything else (Redis away, a crash) fails the
 * attempt, and BullMQ retries it.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ShardJobResult } from './clusterProtocol.js';
import { AffinityWait } from './affinityWait.js';
import { specWithinRoots } from './datasetRoots.js';
import { JobGate, type GateContext } from './jobGate.js';
import type { ShardTask } from './shardWorkspace.js';
import { ThreadTaskError, type ThreadPool } from './threadPool.js';
import type { WorkerInputs } from './workerInputs.js';

export interface JobContext extends GateContext {
  roots: string[];
  redis: Redis;
  pool: ThreadPool;
  inputs: WorkerInputs;
  /** the TTL of the run's keys, which results are written with */
  ttlMs(): number;
}

export function shardJobProcessor(ctx: JobContext): (job: Job, token?: string) => Promise<ShardJobResult> {
  const gate = new JobGate(ctx);
  const affinity = new AffinityWait(ctx.id, ctx.redis, ctx.keys);
  const refuse = (job: Job, reason: string): never => gate.refuse(job, reason);
  const input = <T>(job: Job, f: () => Promise<T>): Promise<T> => gate.input(job, f);

  return async (job, token) => {
    const t0 = performance.now();
    const data = await gate.admitted(job);
    const spec = await specWithinRoots(data.dataset.spec, ctx.roots).catch((e: Error) => refuse(job, e.message));
    if (await affinity.leaveToPreferred(job, data, token)) throw new DelayedError();
    affinity.taken(job);
    const shard: [number, number] = [data.shard.start, data.shard.end];
    ctx.emit({ type: 'started', jobId: String(job.id), op: data.op, shard });
    let bytesIn = 0;
    const model = await input(job, () => ctx.inputs.model(data.modelHash));
    if (model.fetched) bytesIn += model.value.size * 4;
    const n = model.value.size;
    if (n !== data.parameters) refuse(job, `the job says ${data.parameters} parameters, the model has ${n}`);
    let theta = { id: data.modelHash, buffer: model.value.theta };
    if (data.thetaHash) {
      const t = await input(job, () => ctx.inputs.theta(data.thetaHash!, n));
      if (t.fetched) bytesIn += n * 4;
      theta = { id: data.thetaHash, buffer: t.value };
    }
    const task: ShardTask = {
      modelHash: data.modelHash,
      datasetKey: JSON.stringify(spec),
      normalize: data.dataset.normalize,
      shard: { start: data.shard.start, end: data.shard.end },
      batchSize: data.batchSize,
      bnMode: data.bnMode,
      loss: data.loss,
      ...(data.ignoreIndex !== undefined ? { ignoreIndex: data.ignoreIndex } : {}),
      kind: data.kind,
      maxBlock: data.maxBlock,
    };
    // the same shard goes to the same thread, where its primal passes may be cached
    const compute = async <T>(req: Parameters<ThreadPool['run']>[1]): Promise<T> => {
      try {
        return await ctx.pool.run<T>(data.shardIndex % ctx.pool.size, req, `shard [${shard[0]}, ${shard[1]})`);
      } catch (e) {
        // hesse's own checks (a shard outside the dataset, a malformed file) would fail again anywhere
        if (e instanceof ThreadTaskError) return refuse(job, e.message);
        throw e;
      }
    };
    const result: ShardJobResult = { samples: 0, retries: job.attemptsMade + job.stalledCounter, worker: ctx.id, bytesIn: 0, bytesOut: 0, ms: 0 };
    if (data.op === 'loss') {
      Object.assign(result, await compute<{ lossSum: number; correct: number; samples: number }>({ op: 'loss', task, spec, theta: theta.buffer }));
    } else {
      const vectors = await input(job, () => ctx.inputs.vectors(data.vectorKey!, data.k!, n));
      if (vectors.fetched) bytesIn += vectors.value.byteLength;
      const sums = await compute<Float64Array>({ op: 'product', task, spec, theta, vectors: vectors.value, k: data.k! });
      // a run closed meanwhile has swept its keys: a result written now would only linger
      const meta = await ctx.readMeta();
      if (!meta || meta.runId !== data.runId) throw new UnrecoverableError(`run ${data.runId} ended while this job ran`);
      // float64 as summed, so the coordinator adds the very numbers an in-process product adds
      const out = sums;
      result.resultKey = ctx.keys.result(data.runId, data.seq, data.shardIndex);
      await ctx.redis.set(result.resultKey, Buffer.from(out.buffer, out.byteOffset, out.byteLength), 'PX', ctx.ttlMs());
      result.bytesOut = out.byteLength;
      result.samples = shard[1] - shard[0];
    }
    result.bytesIn = bytesIn;
    result.ms = performance.now() - t0;
    ctx.emit({ type: 'done', jobId: String(job.id), op: data.op, shard, ms: result.ms });
    return result;
  };
}

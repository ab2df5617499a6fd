/**
 * What a worker does with one shard job: it checks the job against the run it was admitted to and
 * against its limits, finds the dataset inside its roots, leaves the job for a while to the worker
 * that holds the shard's primal passes, computes the product or loss on the shard's thread, and
 * puts the partial sums back into Redis. A job that is wrong is refused for good (never retried
 * elsewhere); anything else (Redis away, a crash) fails the attempt, and BullMQ retries it.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobLimits, RunMeta, ShardJob, ShardJobResult } from './clusterProtocol.js';
import { jobProblem } from './jobCheck.js';
import type { RunKeys } from './runKeys.js';
import type { WorkerEvent } from './clusterWorker.js';
import { specWithinRoots } from './datasetRoots.js';
import { ClusterError, JobRejectedError } from './errors.js';
import type { ShardTask } from './shardWorkspace.js';
import { ThreadTaskError, type ThreadPool } from './threadPool.js';
import type { WorkerInputs } from './workerInputs.js';

export interface JobContext {
  id: string;
  keys: RunKeys;
  limits: JobLimits;
  roots: string[];
  redis: Redis;
  pool: ThreadPool;
  inputs: WorkerInputs;
  emit(e: WorkerEvent): void;
  /** the run this worker serves */
  admitted(): string | null;
  /** a job of a run started since the run key was last read admits the worker to it, if the run key agrees */
  admit(runId: string): void;
  readMeta(): Promise<RunMeta | null>;
  /** the TTL of the run's keys, which results are written with */
  ttlMs(): number;
}

/** How long a job left to another worker waits before this one looks at it again. */
const AFFINITY_BOUNCE_MS = 50;

export function shardJobProcessor(ctx: JobContext): (job: Job, token?: string) => Promise<ShardJobResult> {
  /** when this worker first saw a job meant for another one, by job id */
  const firstSeen = new Map<string, number>();

  const refuse = (job: Job, reason: string): never => {
    ctx.emit({ type: 'rejected', jobId: String(job.id), reason });
    throw new UnrecoverableError(`rejected by worker ${ctx.id}: ${reason}`);
  };

  /** Inputs that are wrong refuse the job; keys that are gone end it without a retry. */
  const input = async <T>(job: Job, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      if (e instanceof JobRejectedError) return refuse(job, e.message);
      if (e instanceof ClusterError) throw new UnrecoverableError(e.message);
      throw e;
    }
  };

  /** Leaves a job to the worker that holds its shard's primal passes, for a while, if that worker is alive. */
  const leaveToPreferred = async (job: Job, data: ShardJob, token: string | undefined): Promise<boolean> => {
    if (!data.preferred || data.preferred === ctx.id || !data.preferMs) return false;
    // a job taken back from a worker that died or failed: its preferred worker is likely that one
    if (job.attemptsMade + job.stalledCounter > 0) return false;
    const jobId = String(job.id);
    const seenAt = firstSeen.get(jobId) ?? Date.now();
    firstSeen.set(jobId, seenAt);
    if (firstSeen.size > 10_000) firstSeen.delete(firstSeen.keys().next().value!);
    if (Date.now() - seenAt >= data.preferMs) return false;
    if ((await ctx.redis.exists(ctx.keys.worker(data.preferred))) !== 1) return false;
    await job.moveToDelayed(Date.now() + AFFINITY_BOUNCE_MS, token);
    return true;
  };

  /** The job's data once it has passed every check. */
  const admitted = async (job: Job): Promise<ShardJob> => {
    let problem = jobProblem(job.data, ctx.admitted(), ctx.keys, ctx.limits);
    const data = job.data as ShardJob;
    if (problem && data && typeof data === 'object' && data.runId !== ctx.admitted()) {
      const meta = await ctx.readMeta();
      if (meta && meta.runId === data.runId) {
        ctx.admit(meta.runId);
        problem = jobProblem(job.data, ctx.admitted(), ctx.keys, ctx.limits);
      }
    }
    return problem ? refuse(job, problem) : data;
  };

  return async (job, token) => {
    const t0 = performance.now();
    const data = await admitted(job);
    const spec = await specWithinRoots(data.dataset.spec, ctx.roots).catch((e: Error) => refuse(job, e.message));
    if (await leaveToPreferred(job, data, token)) throw new DelayedError();
    firstSeen.delete(String(job.id));
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

/**
 * The coordinator side of a cluster run: one BullMQ job per shard per product. The vectors of a
 * product are stored once in Redis (binary, one key) and every job names that key; the weights are
 * stored once per run, named by their sha256; each worker puts its shard's sums back under a key
 * of its own, which the coordinator reads, adds in shard order and deletes. A job whose worker
 * dies is retried by BullMQ once its lock expires. At a clean close nothing of the run is left in
 * Redis, and every key has a TTL, so an aborted run expires by itself.
 */
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents } from 'bullmq';
import type { DatasetSpec } from '../data/index.js';
import { OptionError, ShapeError } from '../errors.js';
import { DEFAULT_LIMITS, PROTOCOL_VERSION, QUEUE_NAME, RunKeys, type RunMeta, type ShardJob, type ShardJobResult } from './clusterProtocol.js';
import { connectRedis } from './clusterWorker.js';
import { ClusterError } from './errors.js';
import { checkVectors, combineShardSums, resolveProblem, type ExecutorStats, type LossResult, type ShardExecutor, type ShardProblem } from './executor.js';
import { encodeModelBlob, sha256Hex } from './modelBlob.js';
import { parseRedisUrl, redactTarget } from './redisUrl.js';
import type { RespClient } from './respClient.js';
import { requireSpec } from './threadExecutor.js';

export interface ClusterProgress {
  /** vectors multiplied so far (a block of k counts k) */
  products: number;
  jobsDone: number;
  jobsPending: number;
  /** distinct workers that have served this run */
  workersSeen: number;
  /** workers whose heartbeat is current */
  workersAlive: number;
  /** shard jobs started again after a worker died, stalled or failed */
  retries: number;
  /** bytes the coordinator wrote to and read from Redis (vectors, weights, results) */
  bytesSent: number;
  bytesReceived: number;
  /** bytes the workers read and wrote for their jobs */
  workerBytes: number;
}

export interface ClusterOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS */
  redisUrl: string;
  /** the workers serve runs by name (default 'hesse'); one coordinator per name at a time */
  runName?: string;
  /** stop with an error when jobs wait and no worker has been alive for this long (default 30 s) */
  workerTimeoutMs?: number;
  /** attempts per shard job before the run fails (default 5) */
  attempts?: number;
  /** the dataset as the workers should load it (e.g. a path relative to their dataset roots); default: the dataset's own spec */
  remoteSpec?: DatasetSpec;
  onProgress?: (p: ClusterProgress) => void;
  /** how long to try reaching Redis at the start (default 3 s) */
  connectTimeoutMs?: number;
  /** TTL of every key of the run, renewed while the coordinator lives (default 10 min) */
  runTtlMs?: number;
  /** how often the coordinator renews its keys and counts workers (default 1 s) */
  heartbeatMs?: number;
  /**
   * How long a shard job waits for the worker that computed it before (and holds its primal
   * passes) before any worker may take it (default 5 s; 0 turns affinity off).
   */
  affinityMs?: number;
}

export interface ClusterExecutor extends ShardExecutor {
  progress(): ClusterProgress;
  /** the run's id (workers admit themselves to it) */
  readonly runId: string;
}

const CLUSTER_BLOCK = Math.min(32, DEFAULT_LIMITS.maxBlockVectors);

interface Waiter {
  shard: number;
  resolve(r: ShardJobResult): void;
  reject(e: Error): void;
}

export async function clusterExecutor(problem: ShardProblem, opts: ClusterOptions): Promise<ClusterExecutor> {
  const r = resolveProblem(problem);
  const spec = opts.remoteSpec ?? requireSpec(problem, 'cluster workers');
  const target = parseRedisUrl(opts.redisUrl);
  const keys = new RunKeys(opts.runName ?? 'hesse');
  const heartbeatMs = opts.heartbeatMs ?? 1000;
  const runTtl = opts.runTtlMs ?? 600_000;
  const workerTimeout = opts.workerTimeoutMs ?? 30_000;
  const attempts = opts.attempts ?? 5;
  if (!Number.isInteger(attempts) || attempts < 1) throw new OptionError(`attempts must be a positive integer, got ${attempts}`);
  const redact = (m: string) => redactTarget(m, target);

  const redis: RespClient = await connectRedis(target, opts.connectTimeoutMs ?? 3000, 'hesse-coordinator');
  await redis.connect();
  let redisError: string | undefined;
  redis.on('error', (e: Error) => (redisError = redact(e.message)));

  const runId = randomUUID();
  const blob = encodeModelBlob(problem.model);
  const n = problem.model.size;
  const meta = (): RunMeta => ({ v: PROTOCOL_VERSION, runId, heartbeat: Date.now(), heartbeatMs });
  const progress: ClusterProgress = { products: 0, jobsDone: 0, jobsPending: 0, workersSeen: 0, workersAlive: 0, retries: 0, bytesSent: 0, bytesReceived: 0, workerBytes: 0 };
  const stats: ExecutorStats = { products: 0, shardProducts: 0, ms: 0 };
  const seen = new Set<string>();
  let alive: string[] = [];
  /** the worker each shard is meant for, kept while that worker lives */
  const owners: (string | undefined)[] = r.plan.shards.map(() => undefined);
  const affinityMs = opts.affinityMs ?? 5000;
  let lastWorkerAt = Date.now();
  let thetaHash: string | null = null;
  let seq = 0;
  let closed = false;

  /** Claims the run name, clears what an aborted run left, and publishes the model and the run. */
  const startRun = async () => {
    const existing = (await redis.get(keys.meta)) as string | null;
    if (existing) {
      let live = true;
      try {
        const m = JSON.parse(existing) as RunMeta;
        live = Date.now() - m.heartbeat < 3 * (m.heartbeatMs || 1000);
      } catch {
        live = false;
      }
      if (live) throw new ClusterError(`run '${keys.run}' on ${target.display} is in use by another coordinator; give this one another run name (and start its workers with the same name)`);
    }
    // worker keys belong to live workers and expire by themselves
    const stale = (await redis.keysMatching(keys.pattern)).filter((k) => !k.startsWith(`${keys.prefix}:worker:`));
    if (stale.length) await redis.del(...stale);
    await redis.set(keys.model(blob.hash), Buffer.from(blob.bytes.buffer, blob.bytes.byteOffset, blob.bytes.byteLength), { PX: runTtl });
    progress.bytesSent += blob.bytes.byteLength;
    await redis.set(keys.meta, JSON.stringify(meta()), { PX: runTtl });
    const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: keys.queuePrefix });
    const events = new QueueEvents(QUEUE_NAME, { connection: redis, prefix: keys.queuePrefix });
    events.on('error', (e: Error) => (redisError = redact(e.message)));
    try {
      await events.waitUntilReady();
    } catch (e) {
      await events.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      await redis.del(keys.meta, keys.model(blob.hash)).catch(() => 0);
      throw e;
    }
    return { queue, events };
  };

  let started: Awaited<ReturnType<typeof startRun>>;
  try {
    started = await startRun();
  } catch (e) {
    await redis.quit().catch(() => undefined);
    throw e;
  }
  const { queue, events } = started;

  const waiters = new Map<string, Waiter>();
  events.on('completed', ({ jobId, returnvalue }) => {
    const w = waiters.get(jobId);
    if (!w) return;
    waiters.delete(jobId);
    w.resolve((typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue) as ShardJobResult);
  });
  events.on('failed', ({ jobId, failedReason }) => {
    const w = waiters.get(jobId);
    if (!w) return;
    waiters.delete(jobId);
    w.reject(new ClusterError(`shard [${r.plan.shards[w.shard]!.start}, ${r.plan.shards[w.shard]!.end}) failed: ${redact(failedReason)}`));
  });

  const report = () => {
    progress.jobsPending = waiters.size;
    try {
      opts.onProgress?.({ ...progress });
    } catch {
      // a faulty listener must not break the run
    }
  };

  let beats = 0;
  const beat = async () => {
    try {
      await redis.set(keys.meta, JSON.stringify(meta()), { PX: runTtl });
      // every key of the run lives on while the coordinator does (renewing also catches BullMQ's own keys)
      if (beats++ % 10 === 0) {
        for (const k of await redis.keysMatching(keys.pattern)) if (!k.startsWith(`${keys.prefix}:worker:`)) await redis.pexpire(k, runTtl);
      }
      const workers = await redis.keysMatching(keys.workerPattern);
      alive = workers.map((k) => keys.workerId(k)).sort();
      for (const k of workers) seen.add(k);
      progress.workersAlive = workers.length;
      progress.workersSeen = seen.size;
      if (workers.length > 0) lastWorkerAt = Date.now();
      redisError = undefined;
      report();
    } catch (e) {
      redisError = redact((e as Error).message);
    }
  };
  await beat();
  const timer = setInterval(() => void beat(), heartbeatMs);

  const baseJob = (s: number, op: ShardJob['op'], theta: string | null): ShardJob => ({
    v: PROTOCOL_VERSION,
    runId,
    op,
    seq,
    shardIndex: s,
    modelHash: blob.hash,
    thetaHash: theta,
    parameters: n,
    dataset: { spec, normalize: r.normalize },
    shard: r.plan.shards[s]!,
    batchSize: r.plan.batchSize,
    bnMode: r.bnMode,
    loss: r.loss,
    kind: r.kind,
    maxBlock: r.maxBlock,
  });

  /** Shards of departed workers go to the living worker with the fewest samples, so each keeps its own. */
  const assignOwners = () => {
    if (affinityMs === 0 || alive.length === 0) return;
    const load = new Map(alive.map((w) => [w, 0]));
    owners.forEach((o, s) => {
      if (o !== undefined && load.has(o)) load.set(o, load.get(o)! + r.plan.shards[s]!.end - r.plan.shards[s]!.start);
      else owners[s] = undefined;
    });
    owners.forEach((o, s) => {
      if (o !== undefined) return;
      let best = alive[0]!;
      for (const w of alive) if (load.get(w)! < load.get(best)!) best = w;
      owners[s] = best;
      load.set(best, load.get(best)! + r.plan.shards[s]!.end - r.plan.shards[s]!.start);
    });
  };

  /** Sends one job per shard and waits for all of them; on failure the others are withdrawn. */
  const runJobs = async (jobs: ShardJob[]): Promise<ShardJobResult[]> => {
    if (closed) throw new OptionError('this cluster executor was closed');
    assignOwners();
    for (const j of jobs) {
      const o = owners[j.shardIndex];
      // loss evaluations use no cached passes: any worker will do
      if (o !== undefined && j.op === 'product') {
        j.preferred = o;
        j.preferMs = affinityMs;
      }
    }
    const ids = jobs.map((j) => `${runId.slice(0, 8)}-${j.seq}-${j.shardIndex}`);
    const results = ids.map(
      (id, s) =>
        new Promise<ShardJobResult>((resolve, reject) => {
          waiters.set(id, { shard: s, resolve, reject });
        }),
    );
    results.forEach((p) => p.catch(() => undefined));
    await queue.addBulk(
      jobs.map((data, s) => ({
        name: data.op,
        data,
        opts: { jobId: ids[s]!, attempts, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: true, removeOnFail: true },
      })),
    );
    report();
    const started = Date.now();
    let watchdog: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      watchdog = setInterval(() => {
        if (Date.now() - Math.max(started, lastWorkerAt) > workerTimeout) {
          const why = redisError
            ? `lost Redis at ${target.display} (${redisError})`
            : `no worker has served run '${keys.run}' on ${target.display} for ${Math.round(workerTimeout / 1000)} s; start workers with: hesse worker --redis <url> --run ${keys.run}`;
          reject(new ClusterError(why));
        }
      }, Math.min(500, workerTimeout));
    });
    try {
      const done = await Promise.race([Promise.all(results), stuck]);
      done.forEach((d, i) => {
        // the shard's primal passes are where it was computed last
        if (jobs[i]!.op === 'product') owners[jobs[i]!.shardIndex] = d.worker;
      });
      for (const d of done) {
        progress.retries += d.retries;
        progress.workerBytes += d.bytesIn + d.bytesOut;
        progress.jobsDone++;
      }
      stats.shardProducts += jobs.length;
      return done;
    } catch (e) {
      for (const id of ids) waiters.delete(id);
      await Promise.all(ids.map((id) => queue.remove(id).catch(() => 0)));
      throw e;
    } finally {
      clearInterval(watchdog);
      report();
    }
  };

  const setTheta = async (theta: Float32Array): Promise<string> => {
    const bytes = Buffer.from(theta.buffer, theta.byteOffset, theta.byteLength);
    const hash = sha256Hex(bytes);
    if (hash !== thetaHash) {
      await redis.set(keys.theta(hash), bytes, { PX: runTtl });
      progress.bytesSent += bytes.byteLength;
    }
    return hash;
  };

  /** One block of vectors: stored once, one job per shard, the partial sums added in shard order. */
  const productBlock = async (vs: Float32Array[]): Promise<Float32Array[]> => {
    const t0 = performance.now();
    const k = vs.length;
    const mySeq = ++seq;
    const vectorKey = keys.vectors(runId, mySeq);
    const packed = Buffer.allocUnsafe(k * n * 4);
    const view = new Float32Array(packed.buffer, packed.byteOffset, k * n);
    vs.forEach((v, j) => view.set(v, j * n));
    await redis.set(vectorKey, packed, { PX: runTtl });
    progress.bytesSent += packed.byteLength;
    try {
      const jobs = r.plan.shards.map((_, s) => ({ ...baseJob(s, 'product', thetaHash), vectorKey, k }));
      const done = await runJobs(jobs);
      const parts = await Promise.all(
        done.map(async (d, s) => {
          const raw = await redis.callBuffer('GET', d.resultKey!);
          if (!Buffer.isBuffer(raw) || raw.byteLength !== k * n * 4) {
            throw new ClusterError(`the result of shard [${r.plan.shards[s]!.start}, ${r.plan.shards[s]!.end}) is missing or has the wrong size`);
          }
          progress.bytesReceived += raw.byteLength;
          // a copy into aligned memory: a Buffer may start at any byte
          const out = new Float32Array(k * n);
          new Uint8Array(out.buffer).set(raw);
          return out;
        }),
      );
      await redis.del(...done.map((d) => d.resultKey!));
      progress.products += k;
      stats.products += k;
      return combineShardSums(parts, k, n, r.info.samples);
    } finally {
      await redis.del(vectorKey).catch(() => 0);
      await redis.del(...r.plan.shards.map((_, s) => keys.result(runId, mySeq, s))).catch(() => 0);
      stats.ms += performance.now() - t0;
      report();
    }
  };
  const executor: ClusterExecutor = {
    size: n,
    info: r.info,
    stats,
    runId,
    progress: () => ({ ...progress, jobsPending: waiters.size }),

    async products(vs) {
      checkVectors(vs, n);
      // workers accept blocks of limited size; larger ones go block by block
      const out: Float32Array[] = [];
      for (let i = 0; i < vs.length; i += CLUSTER_BLOCK) out.push(...(await productBlock(vs.slice(i, i + CLUSTER_BLOCK))));
      return out;
    },

    async losses(theta) {
      if (theta && theta.length !== n) throw new ShapeError(`weights of length ${theta.length} were given for a model of ${n} parameters`);
      seq++;
      const hash = theta ? await setTheta(theta) : thetaHash;
      try {
        const done = await runJobs(r.plan.shards.map((_, s) => baseJob(s, 'loss', hash)));
        let lossSum = 0, correct = 0, samples = 0;
        for (const d of done) {
          lossSum += d.lossSum ?? NaN;
          correct += d.correct ?? 0;
          samples += d.samples;
        }
        return { loss: lossSum / samples, accuracy: correct / samples, samples } satisfies LossResult;
      } finally {
        if (hash && hash !== thetaHash) await redis.del(keys.theta(hash)).catch(() => 0);
      }
    },

    async setWeights(theta) {
      if (theta.length !== n) throw new ShapeError(`weights of length ${theta.length} were given for a model of ${n} parameters`);
      const hash = await setTheta(theta);
      if (thetaHash && thetaHash !== hash) await redis.del(keys.theta(thetaHash));
      thetaHash = hash;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      for (const w of waiters.values()) w.reject(new ClusterError('the cluster executor was closed'));
      waiters.clear();
      try {
        // workers leave when the run key goes; wait (a little) until they have, so none writes again
        await redis.del(keys.meta);
        const until = Date.now() + 10_000;
        while ((await redis.keysMatching(keys.workerPattern)).length > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
        await events.close();
        await queue.obliterate({ force: true }).catch(() => undefined);
        await queue.close();
        const left = await redis.keysMatching(keys.pattern);
        if (left.length) await redis.del(...left);
      } finally {
        await redis.quit().catch(() => undefined);
      }
    },
  };
  return executor;
}

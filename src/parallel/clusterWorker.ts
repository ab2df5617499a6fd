/**
 * A cluster worker process: it waits for a named run to appear in Redis, admits itself to that
 * run's id, takes shard jobs from the run's BullMQ queue, checks each of them, computes the shard
 * product on local worker threads (so the event loop stays free to renew BullMQ's job locks while
 * it computes) and puts the result back into Redis. It leaves the run when the run key goes away
 * and waits for the next one.
 */
import { randomUUID } from 'node:crypto';
import { availableParallelism, hostname } from 'node:os';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { OptionError } from '../errors.js';
import { DEFAULT_LIMITS, jobProblem, QUEUE_NAME, RunKeys, type JobLimits, type RunMeta, type ShardJob, type ShardJobResult, type WorkerInfo } from './clusterProtocol.js';
import { realRoots, specWithinRoots } from './datasetRoots.js';
import { ClusterError } from './errors.js';
import { decodeModelBlob, sha256Hex } from './modelBlob.js';
import { RespClient } from './respClient.js';
import { parseRedisUrl, redactTarget, type RedisTarget } from './redisUrl.js';
import type { ShardTask } from './shardWorkspace.js';
import { ThreadPool, ThreadTaskError } from './threadPool.js';

export type WorkerEvent =
  | { type: 'connected'; url: string; id: string; concurrency: number }
  | { type: 'joined'; runId: string }
  | { type: 'left'; runId: string }
  | { type: 'started'; jobId: string; op: string; shard: [number, number] }
  | { type: 'done'; jobId: string; op: string; shard: [number, number]; ms: number }
  | { type: 'rejected'; jobId: string; reason: string }
  | { type: 'failed'; jobId: string; reason: string }
  | { type: 'error'; message: string }
  | { type: 'stopped' };

export interface RunWorkerOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// for TLS */
  redisUrl: string;
  /** the run to serve (default 'hesse'); the coordinator must use the same name */
  runName?: string;
  /** shard jobs computed at once, each on its own thread (default: one per core) */
  concurrency?: number;
  /** directories datasets may be read from; a job naming a file elsewhere is rejected */
  datasetRoots?: string[];
  signal?: AbortSignal;
  onEvent?: (e: WorkerEvent) => void;
  limits?: Partial<JobLimits>;
  /** bytes of primal passes kept, all threads together (default 4 GiB) */
  cacheBytes?: number;
  /** BullMQ job lock; a worker that dies loses its job after this long (default 6 s) */
  lockDurationMs?: number;
  /** how often stalled jobs are looked for (default 3 s) */
  stalledIntervalMs?: number;
  /** how often a job may stall before it fails (default 3) */
  maxStalledCount?: number;
  /** how often the run key is read while waiting for a run (default 500 ms) */
  pollMs?: number;
  /** how long the result keys live, should the coordinator vanish (default 1 h) */
  resultTtlMs?: number;
  id?: string;
}

interface LoadedModel {
  size: number;
  /** the blob's own weights, for jobs without a weights hash */
  theta: SharedArrayBuffer;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function toShared(bytes: Uint8Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(sab).set(bytes);
  return sab;
}

/** Connects, failing fast with a message that names the server (never the password). */
export async function connectRedis(target: RedisTarget, timeoutMs = 3000, name?: string): Promise<RespClient> {
  const probe = new RespClient(target, { connectTimeoutMs: timeoutMs, reconnect: false, ...(name ? { name } : {}) });
  try {
    await probe.connect();
  } catch (e) {
    probe.disconnect();
    throw new ClusterError(`${redactTarget((e as Error).message, target)}; is redis-server running there, and is the URL right?`);
  }
  probe.disconnect();
  return new RespClient(target, { connectTimeoutMs: timeoutMs, ...(name ? { name } : {}) });
}

/** Runs until `signal` aborts. Resolves when everything is closed. */
export async function runWorker(opts: RunWorkerOptions): Promise<void> {
  const target = parseRedisUrl(opts.redisUrl);
  const keys = new RunKeys(opts.runName ?? 'hesse');
  const concurrency = opts.concurrency ?? availableParallelism();
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new OptionError(`concurrency must be a positive integer, got ${concurrency}`);
  const limits: JobLimits = { ...DEFAULT_LIMITS, ...(opts.limits ?? {}) };
  const roots = await realRoots(opts.datasetRoots ?? []);
  const id = opts.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const emit = (e: WorkerEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a faulty listener must not stop the worker
    }
  };
  const redact = (m: string) => redactTarget(m, target);
  const lockDuration = opts.lockDurationMs ?? 6000;
  const stalledInterval = opts.stalledIntervalMs ?? 3000;
  const resultTtl = opts.resultTtlMs ?? 3_600_000;
  const pollMs = opts.pollMs ?? 500;
  const affinityBounceMs = 50;

  const redis = await connectRedis(target, 3000, `hesse-worker:${id}`);
  redis.on('error', (e: Error) => emit({ type: 'error', message: redact(e.message) }));
  await redis.connect();
  const pool = new ThreadPool(concurrency, Math.floor((opts.cacheBytes ?? 4 * 2 ** 30) / concurrency));
  emit({ type: 'connected', url: target.display, id, concurrency });

  const models = new Map<string, Promise<LoadedModel>>();
  const thetas = new Map<string, SharedArrayBuffer>();
  let lastVectors: { key: string; data: Promise<SharedArrayBuffer> } | undefined;
  let admitted: string | null = null;
  let bull: Worker | undefined;
  let bullConnection: RespClient | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  const info: WorkerInfo = { id, host: hostname(), pid: process.pid, concurrency, since: Date.now() };

  const readMeta = async (): Promise<RunMeta | null> => {
    const raw = (await redis.get(keys.meta)) as string | null;
    if (!raw) return null;
    try {
      const m = JSON.parse(raw) as RunMeta;
      return typeof m.runId === 'string' ? m : null;
    } catch {
      return null;
    }
  };

  const reject = (job: Job, reason: string): never => {
    emit({ type: 'rejected', jobId: String(job.id), reason });
    throw new UnrecoverableError(`rejected by worker ${id}: ${reason}`);
  };

  const fetchBinary = async (key: string, what: string): Promise<Buffer> => {
    const v = await redis.callBuffer('GET', key);
    if (!Buffer.isBuffer(v)) throw new UnrecoverableError(`${what} (${key}) is not in Redis: the run has ended or its keys expired`);
    return v;
  };

  const loadModel = async (hash: string): Promise<LoadedModel> => {
    const bytes = await fetchBinary(keys.model(hash), 'the model');
    // decodeModelBlob checks the sha256: a worker never runs a model other than the one named
    const model = decodeModelBlob(bytes, `model ${hash.slice(0, 12)}…`, hash);
    const theta = new SharedArrayBuffer(model.theta.byteLength);
    new Float32Array(theta).set(model.theta);
    await pool.loadModel(hash, bytes);
    return { size: model.size, theta };
  };

  /** Concurrent jobs of one run share one download and one load of the model. */
  const ensureModel = async (job: Job, hash: string): Promise<{ model: LoadedModel; fetched: boolean }> => {
    let p = models.get(hash);
    const fetched = !p || !pool.hasModel(hash);
    if (fetched) {
      p = loadModel(hash);
      models.set(hash, p);
      p.catch(() => models.delete(hash));
      while (models.size > 2) models.delete(models.keys().next().value!);
    }
    try {
      return { model: await p!, fetched };
    } catch (e) {
      if (e instanceof UnrecoverableError) throw e;
      return reject(job, (e as Error).message);
    }
  };

  const ensureTheta = async (job: Job, hash: string, n: number): Promise<SharedArrayBuffer> => {
    let t = thetas.get(hash);
    if (t) return t;
    const bytes = await fetchBinary(keys.theta(hash), 'the weights');
    if (bytes.byteLength !== n * 4) reject(job, `the weights hold ${bytes.byteLength} bytes, not ${n} float32 values`);
    if (sha256Hex(bytes) !== hash) reject(job, `the weights stored under ${hash.slice(0, 12)}… do not have that sha256`);
    t = toShared(bytes);
    thetas.set(hash, t);
    while (thetas.size > 3) thetas.delete(thetas.keys().next().value!);
    return t;
  };

  /** when this worker first saw a job meant for another one, by job id */
  const firstSeen = new Map<string, number>();

  /** Leaves a job to the worker that holds its shard's primal passes, for a while, if that worker is alive. */
  const leaveToPreferred = async (job: Job, data: ShardJob, token: string | undefined): Promise<boolean> => {
    if (!data.preferred || data.preferred === id || !data.preferMs) return false;
    const jobId = String(job.id);
    const seenAt = firstSeen.get(jobId) ?? Date.now();
    firstSeen.set(jobId, seenAt);
    if (firstSeen.size > 10_000) firstSeen.delete(firstSeen.keys().next().value!);
    if (Date.now() - seenAt >= data.preferMs) return false;
    if ((await redis.exists(keys.worker(data.preferred))) !== 1) return false;
    await job.moveToDelayed(Date.now() + affinityBounceMs, token);
    return true;
  };

  const process_ = async (job: Job, token?: string): Promise<ShardJobResult> => {
    const t0 = performance.now();
    let problem = jobProblem(job.data, admitted, keys, limits);
    // a job of a run started since the last look at the run key
    const data = job.data as ShardJob;
    if (problem && data && typeof data === 'object' && data.runId !== admitted) {
      const meta = await readMeta();
      if (meta && meta.runId === data.runId) {
        admitted = meta.runId;
        problem = jobProblem(job.data, admitted, keys, limits);
      }
    }
    if (problem) reject(job, problem);
    let spec;
    try {
      spec = await specWithinRoots(data.dataset.spec, roots);
    } catch (e) {
      return reject(job, (e as Error).message);
    }
    if (await leaveToPreferred(job, data, token)) throw new DelayedError();
    firstSeen.delete(String(job.id));
    emit({ type: 'started', jobId: String(job.id), op: data.op, shard: [data.shard.start, data.shard.end] });
    let bytesIn = 0, bytesOut = 0;
    const { model, fetched } = await ensureModel(job, data.modelHash);
    if (fetched) bytesIn += model.size * 4;
    if (model.size !== data.parameters) reject(job, `the job says ${data.parameters} parameters, the model has ${model.size}`);
    const n = model.size;
    let thetaId = data.modelHash;
    let theta = model.theta;
    if (data.thetaHash) {
      const had = thetas.has(data.thetaHash);
      theta = await ensureTheta(job, data.thetaHash, n);
      thetaId = data.thetaHash;
      if (!had) bytesIn += n * 4;
    }
    const task: ShardTask = {
      modelHash: data.modelHash,
      datasetKey: JSON.stringify(spec),
      normalize: data.dataset.normalize,
      shard: { start: data.shard.start, end: data.shard.end },
      batchSize: data.batchSize,
      bnMode: data.bnMode,
      loss: data.loss,
      kind: data.kind,
      maxBlock: data.maxBlock,
    };
    // the same shard goes to the same thread, where its primal passes may be cached
    const thread = data.shardIndex % pool.size;
    const where = `shard [${task.shard.start}, ${task.shard.end})`;
    const compute = async <T>(req: Parameters<ThreadPool['run']>[1]): Promise<T> => {
      try {
        return await pool.run<T>(thread, req, where);
      } catch (e) {
        // hesse's own checks (a shard outside the dataset, a malformed file) will fail again anywhere
        if (e instanceof ThreadTaskError) return reject(job, e.message);
        throw e;
      }
    };
    const result: ShardJobResult = { samples: 0, retries: job.attemptsMade + job.stalledCounter, worker: id, bytesIn: 0, bytesOut: 0, ms: 0 };
    if (data.op === 'loss') {
      const r = await compute<{ lossSum: number; correct: number; samples: number }>({ op: 'loss', task, spec, theta });
      Object.assign(result, r);
    } else {
      const k = data.k!;
      // the shards of one product that land here share one download of its vectors
      const last = lastVectors;
      let fetching = last && last.key === data.vectorKey ? last.data : undefined;
      if (!fetching) {
        fetching = fetchBinary(data.vectorKey!, 'the vectors').then(toShared);
        fetching.catch(() => undefined);
        lastVectors = { key: data.vectorKey!, data: fetching };
        bytesIn += (await fetching).byteLength;
      }
      const vectors = await fetching;
      if (vectors.byteLength !== k * n * 4) reject(job, `the vectors hold ${vectors.byteLength} bytes, not ${k}×${n} float32 values`);
      const sums = await compute<Float64Array>({ op: 'product', task, spec, theta: { id: thetaId, buffer: theta }, vectors, k });
      // a run closed meanwhile has swept its keys: a result written now would only linger
      const meta = await readMeta();
      if (!meta || meta.runId !== data.runId) throw new UnrecoverableError(`run ${data.runId} ended while this job ran`);
      const out = Float32Array.from(sums);
      const resultKey = keys.result(data.runId, data.seq, data.shardIndex);
      await redis.set(resultKey, Buffer.from(out.buffer, out.byteOffset, out.byteLength), { PX: resultTtl });
      bytesOut += out.byteLength;
      result.resultKey = resultKey;
      result.samples = task.shard.end - task.shard.start;
    }
    result.bytesIn = bytesIn;
    result.bytesOut = bytesOut;
    result.ms = performance.now() - t0;
    emit({ type: 'done', jobId: String(job.id), op: data.op, shard: [task.shard.start, task.shard.end], ms: result.ms });
    return result;
  };

  const beat = async () => {
    await redis.set(keys.worker(id), JSON.stringify(info), { PX: Math.max(3 * stalledInterval, 3000) }).catch(() => undefined);
  };

  const join = async (runId: string) => {
    admitted = runId;
    await beat();
    heartbeat = setInterval(() => void beat(), Math.max(stalledInterval, 1000));
    bullConnection = redis.duplicate({ connectionName: `hesse-worker:${id}:bull` });
    bullConnection.on('error', (e: Error) => emit({ type: 'error', message: redact(e.message) }));
    bull = new Worker(QUEUE_NAME, process_, {
      connection: bullConnection,
      prefix: keys.queuePrefix,
      concurrency,
      lockDuration,
      stalledInterval,
      maxStalledCount: opts.maxStalledCount ?? 3,
      drainDelay: 1,
      name: id,
    });
    bull.on('error', (e) => emit({ type: 'error', message: redact(e.message) }));
    bull.on('failed', (job, e) => {
      if (job && !(e instanceof UnrecoverableError)) emit({ type: 'failed', jobId: String(job.id), reason: redact(e.message) });
    });
    emit({ type: 'joined', runId });
  };

  const leave = async () => {
    if (!bull) return;
    const runId = admitted;
    const w = bull;
    bull = undefined;
    if (heartbeat) clearInterval(heartbeat);
    heartbeat = undefined;
    await w.close().catch((e: Error) => emit({ type: 'error', message: redact(e.message) }));
    // BullMQ leaves a connection it was given open
    await bullConnection?.quit().catch(() => undefined);
    bullConnection = undefined;
    await redis.del(keys.worker(id)).catch(() => undefined);
    lastVectors = undefined;
    thetas.clear();
    emit({ type: 'left', runId: runId ?? '' });
  };

  try {
    while (!opts.signal?.aborted) {
      let meta: RunMeta | null;
      try {
        meta = await readMeta();
      } catch (e) {
        // Redis is away for a moment: keep serving the run we are in until it answers again
        emit({ type: 'error', message: redact((e as Error).message) });
        await sleep(pollMs, opts.signal);
        continue;
      }
      if (meta && (!bull || meta.runId !== admitted)) {
        await leave();
        await join(meta.runId);
      } else if (!meta && bull) {
        await leave();
      }
      await sleep(pollMs, opts.signal);
    }
  } finally {
    await leave();
    await pool.destroy();
    await redis.quit().catch(() => undefined);
    emit({ type: 'stopped' });
  }
}


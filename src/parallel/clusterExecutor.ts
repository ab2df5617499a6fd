/**
 * The coordinator side of a cluster run: one BullMQ job per shard per product. It is put together
 * from a connection to Redis that bounds how long an outage is waited out (RedisLink), the claim
 * on the run name with its heartbeat (RunOwnership), the binary values in Redis (VectorStore), the
 * jobs (JobDispatcher) and which worker each shard is meant for (ShardAffinity). Partial sums come
 * back per shard and are added in shard order, so the result does not depend on which worker
 * finished first. At a clean close nothing of the run is left in Redis; every key has a TTL, so a
 * run whose coordinator died expires by itself.
 */
import { randomUUID } from 'node:crypto';
import type { DatasetSpec } from '../data/index.js';
import { OptionError, ShapeError } from '../errors.js';
import { DEFAULT_LIMITS, PROTOCOL_VERSION, type ShardJob, type ShardJobResult } from './clusterProtocol.js';
import { RunKeys } from './runKeys.js';
import { ClusterAbortedError, ClusterError, NoWorkersError } from './errors.js';
import { combineShardLosses, combineShardSums, meteredProducts, resolveProblem, type ExecutorStats, type LossResult, type ResolvedProblem, type ShardExecutor, type ShardProblem } from '../curvature/index.js';
import { JobDispatcher } from './jobDispatch.js';
import { encodeModelBlob } from './modelBlob.js';
import type { LinkEvent } from './linkHealth.js';
import { RedisLink } from './redisLink.js';
import { parseRedisUrl } from './redisUrl.js';
import { RunOwnership } from './runOwnership.js';
import { expireRunKeys } from './runExpiry.js';
import { ShardAffinity } from './shardAffinity.js';
import { requireSpec } from './threadExecutor.js';
import { VectorStore } from './vectorStore.js';

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

/** What the coordinator says about Redis: unreachable (once per outage, with how long it keeps trying) and back again. */
export type ClusterEvent = LinkEvent;

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
  /** Redis unreachable and back; the run fails with a ClusterError once it has been away for `reconnectTimeoutMs` */
  onEvent?: (e: ClusterEvent) => void;
  /** how long one attempt to reach Redis may take; the first failing one fails the executor (default 3 s) */
  connectTimeoutMs?: number;
  /** after losing Redis mid-run, how long to keep trying before failing the pending products (default 60 s) */
  reconnectTimeoutMs?: number;
  /** TTL of every key of the run, renewed while the coordinator lives (default 10 min) */
  runTtlMs?: number;
  /** how often the coordinator renews its keys and counts workers (default 1 s) */
  heartbeatMs?: number;
  /**
   * How long a shard job waits for the worker that computed it before (and holds its primal
   * passes) before any worker may take it (default 5 s; 0 turns affinity off).
   */
  affinityMs?: number;
  /** aborting rejects the pending products at once with a ClusterAbortedError; close() then removes the run */
  signal?: AbortSignal;
}

export interface ClusterExecutor extends ShardExecutor {
  progress(): ClusterProgress;
  /** the run's id (workers admit themselves to it) */
  readonly runId: string;
}

const CLUSTER_BLOCK = Math.min(32, DEFAULT_LIMITS.maxBlockVectors);

function ms(name: string, value: number | undefined, fallback: number, min: number): number {
  const v = value ?? fallback;
  if (!Number.isFinite(v) || v < min) throw new OptionError(`${name} must be a number of milliseconds of at least ${min}, got ${v}`);
  return v;
}

/** The options with their defaults, checked. */
function settings(o: ClusterOptions) {
  const heartbeatMs = ms('heartbeatMs', o.heartbeatMs, 1000, 10);
  const s = {
    heartbeatMs,
    runTtlMs: ms('runTtlMs', o.runTtlMs, 600_000, 3 * heartbeatMs),
    workerTimeoutMs: ms('workerTimeoutMs', o.workerTimeoutMs, 30_000, 1),
    connectTimeoutMs: ms('connectTimeoutMs', o.connectTimeoutMs, 3000, 1),
    reconnectTimeoutMs: ms('reconnectTimeoutMs', o.reconnectTimeoutMs, 60_000, 0),
    affinityMs: ms('affinityMs', o.affinityMs, 5000, 0),
    attempts: o.attempts ?? 5,
  };
  if (!Number.isInteger(s.attempts) || s.attempts < 1) throw new OptionError(`attempts must be a positive integer, got ${s.attempts}`);
  return s;
}

function aborted(signal: AbortSignal): ClusterAbortedError {
  return new ClusterAbortedError('the cluster run was stopped before its products finished', { cause: signal.reason });
}

export async function clusterExecutor(problem: ShardProblem, opts: ClusterOptions): Promise<ClusterExecutor> {
  const r = resolveProblem(problem);
  const spec = opts.remoteSpec ?? requireSpec(problem, 'cluster workers');
  const s = settings(opts);
  const target = parseRedisUrl(opts.redisUrl);
  const keys = new RunKeys(opts.runName ?? 'hesse');
  if (opts.signal?.aborted) throw aborted(opts.signal);
  // the model's snapshot now, before the first await: weights changed in place while the run is set up do not leak in
  const blob = encodeModelBlob(problem.model);
  const link = await RedisLink.open(target, {
    name: 'hesse-coordinator',
    connectTimeoutMs: s.connectTimeoutMs,
    reconnectTimeoutMs: s.reconnectTimeoutMs,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });
  const runId = randomUUID();
  let ownership: RunOwnership | undefined;
  let dispatch: JobDispatcher | undefined;
  try {
    ownership = await RunOwnership.claim(link, keys, runId, { heartbeatMs: s.heartbeatMs, ttlMs: s.runTtlMs });
    const store = new VectorStore(link.client, keys, runId, s.runTtlMs);
    await store.putModel(blob);
    const owned = ownership;
    dispatch = await JobDispatcher.open(link, keys, {
      attempts: s.attempts,
      workerTimeoutMs: s.workerTimeoutMs,
      lastWorkerAt: () => owned.lastWorkerAt,
      noWorkers: () =>
        new NoWorkersError(`no worker has served run '${keys.run}' on ${target.display} for ${Math.round(s.workerTimeoutMs / 1000)} s; start workers that serve run '${keys.run}' on that Redis server`, keys.run, target.display),
      // jobs just added have no TTL yet: should this process die now, they still expire
      afterAdd: async () => void (await expireRunKeys(link, keys, s.runTtlMs, 'renew').catch(() => undefined)),
    });
    const template = jobTemplate(r, runId, blob.hash, problem.model.size, spec);
    const run = new ClusterRun(r, runId, template, { link, ownership, store, dispatch, affinity: new ShardAffinity(r.plan.shards, s.affinityMs) }, opts);
    await ownership.publish();
    return run;
  } catch (e) {
    ownership?.stop();
    await dispatch?.close(link.reachable);
    if (link.reachable) await ownership?.sweep().catch(() => undefined);
    await link.close();
    throw link.explain(e);
  }
}

type JobTemplate = (s: number, op: ShardJob['op'], thetaHash: string | null, seq: number) => ShardJob;

function jobTemplate(r: ResolvedProblem, runId: string, modelHash: string, parameters: number, spec: DatasetSpec): JobTemplate {
  return (s, op, thetaHash, seq) => ({
    v: PROTOCOL_VERSION,
    runId,
    op,
    seq,
    shardIndex: s,
    modelHash,
    thetaHash,
    parameters,
    dataset: { spec, normalize: r.normalize },
    shard: r.plan.shards[s]!,
    batchSize: r.plan.batchSize,
    bnMode: r.bnMode,
    loss: r.loss,
    ...(r.objective.ignoreIndex !== undefined ? { ignoreIndex: r.objective.ignoreIndex } : {}),
    kind: r.kind,
    maxBlock: r.maxBlock,
  });
}

interface RunParts {
  link: RedisLink;
  ownership: RunOwnership;
  store: VectorStore;
  dispatch: JobDispatcher;
  affinity: ShardAffinity;
}

/** A claimed run: products and losses as shard jobs, until close. */
class ClusterRun implements ClusterExecutor {
  readonly size: number;
  readonly info;
  readonly stats: ExecutorStats = { products: 0, shardProducts: 0, ms: 0 };
  private seq = 0;
  private closed = false;
  /** why the run cannot go on: an abort, or Redis given up */
  private halted: Error | undefined;
  private readonly unlisten: () => void;

  constructor(
    private readonly r: ResolvedProblem,
    readonly runId: string,
    private readonly job: JobTemplate,
    private readonly parts: RunParts,
    private readonly opts: ClusterOptions,
  ) {
    this.size = r.info.parameters;
    this.info = r.info;
    const onAbort = () => this.halt(aborted(opts.signal!));
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const offFailure = parts.link.onFailure((e) => {
      parts.ownership.stop();
      this.halt(e);
    });
    this.unlisten = () => {
      opts.signal?.removeEventListener('abort', onAbort);
      offFailure();
    };
    parts.ownership.onBeat = () => this.report();
  }

  progress(): ClusterProgress {
    const { dispatch, ownership, store } = this.parts;
    return {
      products: this.stats.products,
      jobsDone: dispatch.jobsDone,
      jobsPending: dispatch.pending,
      workersSeen: ownership.seen.size,
      workersAlive: ownership.alive.length,
      retries: dispatch.retries,
      bytesSent: store.bytesSent,
      bytesReceived: store.bytesReceived,
      workerBytes: dispatch.workerBytes,
    };
  }

  private report(): void {
    try {
      this.opts.onProgress?.(this.progress());
    } catch {
      // a faulty listener must not break the run
    }
  }

  private halt(e: Error): void {
    this.halted ??= e;
    this.parts.dispatch.stop(this.halted);
    this.report();
  }

  /** Runs `f` on a live run; a failed command reports why the run stopped (an abort, Redis given up) where there is a reason. */
  private async live<T>(f: () => Promise<T>): Promise<T> {
    if (this.closed) throw new OptionError('this cluster executor was closed');
    if (this.halted) throw this.halted;
    try {
      return await f();
    } catch (e) {
      throw this.halted ?? this.parts.link.explain(e);
    }
  }

  private where = (s: number) => `shard [${this.r.plan.shards[s]!.start}, ${this.r.plan.shards[s]!.end})`;

  /** One job per shard; the shards' workers are remembered for the next product. */
  private async dispatch(jobs: ShardJob[]): Promise<ShardJobResult[]> {
    const { affinity, dispatch, ownership } = this.parts;
    affinity.prefer(jobs, ownership.alive);
    try {
      const done = await dispatch.run(jobs, this.where);
      affinity.record(jobs, done);
      return done;
    } finally {
      this.report();
    }
  }

  products(vs: Float32Array[]): Promise<Float32Array[]> {
    // workers accept blocks of limited size; larger ones go block by block, one job per shard each
    const blocks = Math.ceil(vs.length / CLUSTER_BLOCK);
    return meteredProducts(this.stats, this.size, blocks * this.r.plan.shards.length, vs, async (all) => {
      const out: Float32Array[] = [];
      for (let i = 0; i < all.length; i += CLUSTER_BLOCK) out.push(...(await this.productBlock(all.slice(i, i + CLUSTER_BLOCK))));
      return out;
    });
  }

  /** One block of vectors: stored once, one job per shard, the partial sums added in shard order. */
  private productBlock(vs: Float32Array[]): Promise<Float32Array[]> {
    const { store, link } = this.parts;
    const k = vs.length, n = this.size, seq = ++this.seq;
    return this.live(async () => {
      try {
        const vectorKey = await store.putVectors(seq, vs, n);
        const done = await this.dispatch(this.r.plan.shards.map((_, s) => ({ ...this.job(s, 'product', store.thetaHash, seq), vectorKey, k })));
        const parts = await store.takeResults(done.map((d) => d.resultKey!), k, n, this.where);
        return combineShardSums(parts, k, n, this.r.info.samples);
      } finally {
        if (link.reachable) await store.dropProduct(seq, this.r.plan.shards.length).catch(() => 0);
        this.report();
      }
    });
  }

  async losses(theta?: Float32Array): Promise<LossResult> {
    if (theta && theta.length !== this.size) throw new ShapeError(`weights of length ${theta.length} were given for a model of ${this.size} parameters`);
    const { store, link } = this.parts;
    const seq = ++this.seq;
    return this.live(async () => {
      const hash = theta ? await store.putTheta(theta) : store.thetaHash;
      try {
        const done = await this.dispatch(this.r.plan.shards.map((_, s) => this.job(s, 'loss', hash, seq)));
        // a loss job's answer without its sums is malformed: NaN, never a silent 0
        return combineShardLosses(done.map((d) => ({ lossSum: d.lossSum ?? NaN, correct: d.correct ?? NaN, samples: d.samples })));
      } finally {
        if (hash && link.reachable) await store.dropTheta(hash).catch(() => 0);
      }
    });
  }

  async setWeights(theta: Float32Array): Promise<void> {
    if (theta.length !== this.size) throw new ShapeError(`weights of length ${theta.length} were given for a model of ${this.size} parameters`);
    await this.live(() => this.parts.store.useTheta(theta));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unlisten();
    const { link, ownership, dispatch } = this.parts;
    dispatch.stop(this.halted ?? new ClusterError('the cluster executor was closed'));
    // with Redis away there is nothing to clean: the run's keys expire by themselves
    const clean = link.reachable;
    try {
      if (clean) await ownership.withdraw();
      await dispatch.close(clean);
      if (clean) await ownership.sweep();
    } catch {
      // Redis went away while closing: the keys expire by themselves
    } finally {
      ownership.stop();
      await link.close();
    }
  }
}

/**
 * A claimed cluster run: products and losses as one job per shard, the partial sums added in
 * shard order, until close. An abort or Redis given up halts it: pending and later calls reject
 * with that reason.
 */
import { OptionError, ShapeError } from '../errors.js';
import { combineShardLosses, combineShardSums, meteredProducts, type ExecutorStats, type LossResult, type ResolvedProblem } from '../curvature/index.js';
import type { ClusterExecutor, ClusterOptions, ClusterProgress } from './clusterOptions.js';
import { DEFAULT_LIMITS, type ShardJob, type ShardJobResult } from './clusterProtocol.js';
import { closeRunParts, runProgress, type RunParts } from './clusterRunParts.js';
import { abortedRun, ClusterError } from './errors.js';
import type { JobTemplate } from './shardJobTemplate.js';

const CLUSTER_BLOCK = Math.min(32, DEFAULT_LIMITS.maxBlockVectors);

export class ClusterRun implements ClusterExecutor {
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
    const onAbort = () => this.halt(abortedRun(opts.signal!));
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
    return runProgress(this.parts, this.stats.products);
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
    this.parts.dispatch.stop(this.halted ?? new ClusterError('the cluster executor was closed'));
    await closeRunParts(this.parts);
  }
}

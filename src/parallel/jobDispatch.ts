/**
 * Shard jobs through BullMQ: one job per shard, added together, each retried by BullMQ when its
 * worker fails or dies (its lock expires and another worker's stalled-job check takes it back);
 * the coordinator waits on the queue's event stream for all of them. A watchdog stops waiting
 * when no worker has been alive for a while; stop() (an abort, Redis given up) ends every wait at
 * once.
 */
import { Queue, QueueEvents } from 'bullmq';
import type { ShardJob, ShardJobResult } from './clusterProtocol.js';
import { QUEUE_NAME, type RunKeys } from './runKeys.js';
import { ClusterError } from './errors.js';
import type { RedisLink } from './redisLink.js';

export interface DispatchOptions {
  /** attempts per job before the run fails */
  attempts: number;
  /** stop waiting when jobs wait and no worker has been alive for this long */
  workerTimeoutMs: number;
  /** when a worker was last seen alive */
  lastWorkerAt: () => number;
  /** what to say when no worker comes */
  noWorkers: () => ClusterError;
  /** after jobs were added (the run's new keys get their TTL) */
  afterAdd?: () => Promise<void>;
}

interface Waiter {
  where: string;
  resolve(r: ShardJobResult): void;
  reject(e: Error): void;
}

export class JobDispatcher {
  private readonly waiters = new Map<string, Waiter>();
  private stopped: Error | undefined;
  jobsDone = 0;
  retries = 0;
  /** bytes the workers read and wrote for their jobs */
  workerBytes = 0;

  private constructor(
    private readonly link: RedisLink,
    private readonly queue: Queue,
    private readonly events: QueueEvents,
    private readonly opts: DispatchOptions,
  ) {
    events.on('completed', ({ jobId, returnvalue }) => {
      const r: unknown = typeof returnvalue === 'string' ? JSON.parse(returnvalue) : returnvalue;
      this.settle(jobId)?.resolve(r as ShardJobResult);
    });
    events.on('failed', ({ jobId, failedReason }) => {
      const w = this.settle(jobId);
      w?.reject(new ClusterError(`${w.where} failed: ${link.redact(failedReason)}`));
    });
  }

  static async open(link: RedisLink, keys: RunKeys, opts: DispatchOptions): Promise<JobDispatcher> {
    const connection = { connection: link.client, prefix: keys.queuePrefix };
    const queue = new Queue(QUEUE_NAME, connection);
    // the run's keys were cleared when it was claimed, so reading its events from the start misses none
    const events = new QueueEvents(QUEUE_NAME, { ...connection, lastEventId: '0-0' });
    // connection errors are the link's to report, once
    queue.on('error', () => undefined);
    events.on('error', () => undefined);
    try {
      await queue.waitUntilReady();
      await events.waitUntilReady();
    } catch (e) {
      await events.close().catch(() => undefined);
      await queue.close().catch(() => undefined);
      throw link.explain(e);
    }
    return new JobDispatcher(link, queue, events, opts);
  }

  get pending(): number {
    return this.waiters.size;
  }

  private settle(jobId: string): Waiter | undefined {
    const w = this.waiters.get(jobId);
    this.waiters.delete(jobId);
    return w;
  }

  /** Sends the jobs and waits for all of them; on failure the others are withdrawn. */
  async run(jobs: ShardJob[], where: (i: number) => string): Promise<ShardJobResult[]> {
    if (this.stopped) throw this.stopped;
    const ids = jobs.map((j) => `${j.runId.slice(0, 8)}-${j.seq}-${j.shardIndex}`);
    const results = ids.map((id, i) => new Promise<ShardJobResult>((resolve, reject) => this.waiters.set(id, { where: where(i), resolve, reject })));
    results.forEach((p) => p.catch(() => undefined));
    try {
      await this.queue.addBulk(
        jobs.map((data, i) => ({
          name: data.op,
          data,
          opts: { jobId: ids[i]!, attempts: this.opts.attempts, backoff: { type: 'fixed', delay: 200 }, removeOnComplete: true, removeOnFail: true },
        })),
      );
      await this.opts.afterAdd?.();
      const done = await this.watched(Promise.all(results));
      for (const d of done) {
        this.retries += d.retries;
        this.workerBytes += d.bytesIn + d.bytesOut;
        this.jobsDone++;
      }
      return done;
    } catch (e) {
      for (const id of ids) this.waiters.delete(id);
      if (this.link.reachable) await Promise.all(ids.map((id) => this.queue.remove(id).catch(() => 0)));
      throw this.stopped ?? this.link.explain(e);
    }
  }

  /** The jobs' results, unless no worker serves the run for too long. */
  private async watched<T>(all: Promise<T>): Promise<T> {
    let since = Date.now();
    let watchdog: NodeJS.Timeout | undefined;
    const stuck = new Promise<never>((_, reject) => {
      watchdog = setInterval(() => {
        // while Redis is away no worker can be seen; the link has its own time limit
        if (!this.link.reachable) since = Date.now();
        else if (Date.now() - Math.max(since, this.opts.lastWorkerAt()) > this.opts.workerTimeoutMs) reject(this.opts.noWorkers());
      }, Math.min(500, this.opts.workerTimeoutMs));
    });
    try {
      return await Promise.race([all, stuck]);
    } finally {
      clearInterval(watchdog);
    }
  }

  /** Ends every wait now, and every later run, with `e` (an abort, Redis given up, the executor closed). */
  stop(e: Error): void {
    this.stopped ??= e;
    for (const w of this.waiters.values()) w.reject(this.stopped);
    this.waiters.clear();
  }

  /** Closes the queue; with `clean`, its jobs and keys are removed first. */
  async close(clean: boolean): Promise<void> {
    this.stop(new ClusterError('the cluster executor was closed'));
    await this.events.close().catch(() => undefined);
    if (clean) await this.queue.obliterate({ force: true }).catch(() => undefined);
    await this.queue.close().catch(() => undefined);
  }
}

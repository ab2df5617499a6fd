/**
 * A worker's part in one run: while it serves the run it keeps a heartbeat key (which expires
 * when the worker dies, so coordinators and other workers see it gone) and a BullMQ worker on the
 * run's queue. Leaving closes the BullMQ worker, gives a TTL to whatever key its jobs left
 * without one (the coordinator may have died, and no one else would), and drops the heartbeat.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { RunMeta, ShardJobResult, WorkerInfo } from './clusterProtocol.js';
import { QUEUE_NAME, type RunKeys } from './runKeys.js';
import type { RedisLink } from './redisLink.js';
import { expireRunKeys } from './runExpiry.js';
import type { MembershipOptions, WorkerEvent } from './workerOptions.js';

/** Errors of a connection that drops: the link reports those, once, and decides when to give up. */
const CONNECTION_ERROR = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENOTFOUND|Connection is closed|Stream isn't writeable|connection close/i;

/** A run's keys live this long when its coordinator did not say (runs of older coordinators). */
const DEFAULT_RUN_TTL_MS = 600_000;

export class RunMembership {
  /** the run this worker serves (set by join, or by a job of a newer run the run key confirms) */
  runId: string | null = null;
  /** the TTL the coordinator gives the run's keys */
  ttlMs = DEFAULT_RUN_TTL_MS;
  private bull: Worker | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly link: RedisLink,
    private readonly keys: RunKeys,
    private readonly info: WorkerInfo,
    private readonly opts: MembershipOptions,
    private readonly processor: (job: Job, token?: string) => Promise<ShardJobResult>,
    private readonly emit: (e: WorkerEvent) => void,
    /** called on leaving: drop what belonged to the run */
    private readonly forget: () => void,
  ) {}

  get joined(): boolean {
    return this.bull !== undefined;
  }

  private async beat(): Promise<void> {
    // while Redis is away a heartbeat would only queue up behind the others
    if (!this.link.reachable) return;
    const ttl = Math.max(3 * this.opts.stalledIntervalMs, 3000);
    await this.link.client.set(this.keys.worker(this.info.id), JSON.stringify(this.info), 'PX', ttl).catch(() => undefined);
  }

  private reportError(e: Error): void {
    if (this.link.reachable && !CONNECTION_ERROR.test(e.message)) this.emit({ type: 'error', message: this.link.redact(e.message) });
  }

  async join(meta: RunMeta): Promise<void> {
    this.runId = meta.runId;
    this.ttlMs = Number.isFinite(meta.ttlMs) && meta.ttlMs > 0 ? meta.ttlMs : DEFAULT_RUN_TTL_MS;
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), Math.max(this.opts.stalledIntervalMs, 1000));
    const bull = new Worker(QUEUE_NAME, this.processor, {
      connection: this.link.client,
      prefix: this.keys.queuePrefix,
      concurrency: this.opts.concurrency,
      lockDuration: this.opts.lockDurationMs,
      stalledInterval: this.opts.stalledIntervalMs,
      maxStalledCount: this.opts.maxStalledCount,
      drainDelay: 1,
      name: this.info.id,
    });
    bull.on('error', (e) => this.reportError(e));
    bull.on('failed', (job, e) => {
      if (job && !(e instanceof UnrecoverableError) && !CONNECTION_ERROR.test(e.message)) this.emit({ type: 'failed', jobId: String(job.id), reason: this.link.redact(e.message) });
    });
    this.bull = bull;
    this.emit({ type: 'joined', runId: meta.runId });
  }

  async leave(): Promise<void> {
    const bull = this.bull;
    if (!bull) return;
    this.bull = undefined;
    clearInterval(this.heartbeat);
    // with Redis away, the jobs in hand cannot be finished: BullMQ gives them to others once it is back
    await bull.close(!this.link.reachable).catch((e: Error) => this.reportError(e));
    if (this.link.reachable) {
      await expireRunKeys(this.link, this.keys, this.ttlMs, 'if-missing').catch(() => undefined);
      await this.link.client.del(this.keys.worker(this.info.id)).catch(() => undefined);
    }
    this.forget();
    this.emit({ type: 'left', runId: this.runId ?? '' });
  }
}

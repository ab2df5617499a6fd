/**
 * A worker's side of shard affinity (shardAffinity.ts marks the jobs): a product job meant for
 * another worker, the one that holds its shard's primal passes, is left to that worker for a
 * while (the job's `preferMs`, counted from when this worker first saw it), if that worker is alive.
 */
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { ShardJob } from './clusterProtocol.js';
import type { RunKeys } from './runKeys.js';

/** How long a job left to another worker waits before this one looks at it again. */
const AFFINITY_BOUNCE_MS = 50;

export class AffinityWait {
  /** when this worker first saw a job meant for another one, by job id */
  private readonly firstSeen = new Map<string, number>();

  constructor(
    private readonly id: string,
    private readonly redis: Redis,
    private readonly keys: RunKeys,
  ) {}

  /** Moves the job back to the delayed set for a moment when it is another worker's to take; true if it did. */
  async leaveToPreferred(job: Job, data: ShardJob, token: string | undefined): Promise<boolean> {
    if (!data.preferred || data.preferred === this.id || !data.preferMs) return false;
    // a job taken back from a worker that died or failed: its preferred worker is likely that one
    if (job.attemptsMade + job.stalledCounter > 0) return false;
    const jobId = String(job.id);
    const seenAt = this.firstSeen.get(jobId) ?? Date.now();
    this.firstSeen.set(jobId, seenAt);
    if (this.firstSeen.size > 10_000) this.firstSeen.delete(this.firstSeen.keys().next().value!);
    if (Date.now() - seenAt >= data.preferMs) return false;
    if ((await this.redis.exists(this.keys.worker(data.preferred))) !== 1) return false;
    await job.moveToDelayed(Date.now() + AFFINITY_BOUNCE_MS, token);
    return true;
  }

  /** The job is this worker's now. */
  taken(job: Job): void {
    this.firstSeen.delete(String(job.id));
  }
}

/**
 * Whether a worker takes up a shard job: the job must be of the run the worker was admitted to (a
 * job of a run started since the run key was last read admits it, if the run key agrees), well
 * formed and within its limits. A job that is wrong is refused for good (never retried
 * elsewhere), and so is one whose inputs in Redis are wrong; inputs that are gone end the job
 * without a retry.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { JobLimits, RunMeta, ShardJob } from './clusterProtocol.js';
import { ClusterError, JobRejectedError } from './errors.js';
import { jobProblem } from './jobCheck.js';
import type { RunKeys } from './runKeys.js';
import type { WorkerEvent } from './workerOptions.js';

export interface GateContext {
  id: string;
  keys: RunKeys;
  limits: JobLimits;
  emit(e: WorkerEvent): void;
  /** the run this worker serves */
  admitted(): string | null;
  /** a job of a run started since the run key was last read admits the worker to it, if the run key agrees */
  admit(runId: string): void;
  readMeta(): Promise<RunMeta | null>;
}

export class JobGate {
  constructor(private readonly ctx: GateContext) {}

  /** Refuses the job for good, saying why. */
  refuse(job: Job, reason: string): never {
    this.ctx.emit({ type: 'rejected', jobId: String(job.id), reason });
    throw new UnrecoverableError(`rejected by worker ${this.ctx.id}: ${reason}`);
  }

  /** Inputs that are wrong refuse the job; keys that are gone end it without a retry. */
  async input<T>(job: Job, f: () => Promise<T>): Promise<T> {
    try {
      return await f();
    } catch (e) {
      if (e instanceof JobRejectedError) return this.refuse(job, e.message);
      if (e instanceof ClusterError) throw new UnrecoverableError(e.message);
      throw e;
    }
  }

  /** The job's data once it has passed every check. */
  async admitted(job: Job): Promise<ShardJob> {
    const ctx = this.ctx;
    let problem = jobProblem(job.data, ctx.admitted(), ctx.keys, ctx.limits);
    const data = job.data as ShardJob;
    if (problem && data && typeof data === 'object' && data.runId !== ctx.admitted()) {
      const meta = await ctx.readMeta();
      if (meta && meta.runId === data.runId) {
        ctx.admit(meta.runId);
        problem = jobProblem(job.data, ctx.admitted(), ctx.keys, ctx.limits);
      }
    }
    return problem ? this.refuse(job, problem) : data;
  }
}

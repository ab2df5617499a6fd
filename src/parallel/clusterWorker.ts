/**
 * A cluster worker process: it waits for a named run to appear in Redis, serves it (RunMembership:
 * a heartbeat and a BullMQ worker whose jobs shardJobs.ts computes on local worker threads, so the
 * event loop stays free to renew the job locks) and leaves it when the run key goes, then waits
 * for the next run. Redis lost for longer than `reconnectTimeoutMs` ends it with a ClusterError.
 * Its options and events are in workerOptions.ts; how it reads the run key, in runWatch.ts.
 */
import { hostname } from 'node:os';
import type { RunMeta, WorkerInfo } from './clusterProtocol.js';
import { RedisLink } from './redisLink.js';
import { RunMembership } from './runMembership.js';
import { readMeta, sleep, unlessAborted } from './runWatch.js';
import { shardJobProcessor } from './shardJobs.js';
import { ThreadPool } from './threadPool.js';
import { WorkerInputs } from './workerInputs.js';
import { workerSettings, type RunWorkerOptions, type WorkerEvent } from './workerOptions.js';

export type { RunWorkerOptions, WorkerEvent } from './workerOptions.js';

/** Runs until `signal` aborts (resolves once everything is closed) or Redis is lost for good (rejects with a ClusterError). */
export async function runWorker(opts: RunWorkerOptions): Promise<void> {
  const s = await workerSettings(opts);
  const { target, keys, concurrency, id } = s;
  const emit = (e: WorkerEvent) => {
    try {
      opts.onEvent?.(e);
    } catch {
      // a faulty listener must not stop the worker
    }
  };
  const link = await RedisLink.open(target, {
    name: `hesse-worker:${id}`,
    connectTimeoutMs: s.connectTimeoutMs,
    ...(opts.reconnectTimeoutMs !== undefined ? { reconnectTimeoutMs: opts.reconnectTimeoutMs } : {}),
    onEvent: emit,
  });
  const pool = new ThreadPool(concurrency, s.threadCacheBytes);
  const inputs = new WorkerInputs(link.client, keys, pool);
  const info: WorkerInfo = { id, host: hostname(), pid: process.pid, concurrency, since: Date.now() };
  const membership: RunMembership = new RunMembership(link, keys, info, s.membership, (job, token) => process_(job, token), emit, () => inputs.forgetRun());
  const process_ = shardJobProcessor({
    id,
    keys,
    limits: s.limits,
    roots: s.roots,
    redis: link.client,
    pool,
    inputs,
    emit,
    admitted: () => membership.runId,
    admit: (runId) => (membership.runId = runId),
    readMeta: () => readMeta(link, keys),
    ttlMs: () => membership.ttlMs,
  });
  emit({ type: 'connected', url: target.display, id, concurrency });

  try {
    while (!opts.signal?.aborted) {
      let meta: RunMeta | null | undefined;
      try {
        meta = await unlessAborted(readMeta(link, keys), opts.signal);
      } catch (e) {
        throw link.explain(e);
      }
      if (meta === undefined) break;
      if (meta && (!membership.joined || meta.runId !== membership.runId)) {
        await membership.leave();
        await membership.join(meta);
      } else if (!meta && membership.joined) {
        await membership.leave();
      }
      await sleep(s.pollMs, opts.signal);
    }
  } finally {
    await membership.leave();
    await pool.destroy();
    await link.close();
    emit({ type: 'stopped' });
  }
}

/**
 * The task queue's owner (a study's coordinator): it adds one job per task (its id is the task's;
 * a job already there for it is waited on, one that ended unfinished is added again), waits for
 * all of them, hands a finished task's files over and deletes them from Redis, and on a stop sets
 * the key the workers watch and withdraws waiting jobs. It keeps every key's TTL renewed while it
 * waits. Also: how many tasks the workers of a run take at once.
 */
import { Queue, QueueEvents, type Job } from 'bullmq';
import { ClusterError, NoWorkersError } from './errors.js';
import type { LinkEvent } from './linkHealth.js';
import { RedisLink } from './redisLink.js';
import { parseRedisUrl } from './redisUrl.js';
import { readFiles, writeFiles, type TaskFiles } from './taskFiles.js';
import { DEFAULT_TTL_MS, expireKeys, positive, QUEUE, TaskKeys, type Task, type TaskOutcome } from './taskKeys.js';

const RENEW_MS = 60_000;

export interface RunTasksOptions {
  redisUrl: string;
  runName: string;
  tasks: readonly Task[];
  /** files a task starts from when Redis holds none for it (a run begun elsewhere) */
  initialFiles?: (id: string) => Promise<TaskFiles>;
  /** a finished task's files (and those of unfinished ones when stopped): store them */
  onFiles: (id: string, files: TaskFiles, finished: boolean) => Promise<void>;
  /** what a worker's handler reported */
  onProgress?: (id: string, data: unknown) => void;
  onLinkEvent?: (e: LinkEvent) => void;
  /** stop: workers save and end their tasks, waiting ones are withdrawn */
  signal?: AbortSignal;
  /** give up when tasks wait and no worker has been seen for this long (default 120 s) */
  workerTimeoutMs?: number;
  pollMs?: number;
  ttlMs?: number;
}

/** Runs the tasks on the workers of `runName` until every one finished, or the signal stopped them. Resolves true when all finished. */
export async function runTasks(o: RunTasksOptions): Promise<boolean> {
  const keys = new TaskKeys(o.runName);
  const target = parseRedisUrl(o.redisUrl);
  const workerTimeoutMs = positive('workerTimeoutMs', o.workerTimeoutMs, 120_000);
  const pollMs = positive('pollMs', o.pollMs, 300);
  const ttlMs = positive('ttlMs', o.ttlMs, DEFAULT_TTL_MS);
  const link = await RedisLink.open(target, { name: `hesse-tasks:${o.runName}`, ...(o.onLinkEvent ? { onEvent: o.onLinkEvent } : {}) });
  const connection = { connection: link.client, prefix: keys.prefix };
  const queue = new Queue(QUEUE, connection);
  const events = new QueueEvents(QUEUE, connection);
  queue.on('error', () => undefined);
  events.on('error', () => undefined);
  events.on('progress', ({ jobId, data }) => o.onProgress?.(jobId, data));
  const failure = new Promise<never>((_, reject) => link.onFailure(reject));
  failure.catch(() => undefined);
  const pending = new Set(o.tasks.map((t) => t.id));
  const byId = new Map(o.tasks.map((t) => [t.id, t]));
  const add = async (t: Task) => {
    if ((await link.client.exists(keys.files(t.id))) === 0 && o.initialFiles) await writeFiles(link, keys, t.id, await o.initialFiles(t.id), ttlMs);
    await queue.add('task', t.data, { jobId: t.id, removeOnComplete: false, removeOnFail: false });
  };
  const take = async (id: string, job: Job, finished: boolean) => {
    await o.onFiles(id, await readFiles(link, keys, id), finished);
    if (finished) {
      await job.remove();
      await link.client.del(keys.files(id));
      pending.delete(id);
    }
  };
  try {
    await Promise.race([Promise.all([queue.waitUntilReady(), events.waitUntilReady()]), failure]);
    await link.client.del(keys.stop);
    for (const t of o.tasks) {
      const job = await queue.getJob(t.id);
      const state = job ? await job.getState() : 'missing';
      if (job && (state === 'completed' || state === 'failed')) await job.remove();
      if (!job || state === 'completed' || state === 'failed' || state === 'unknown') await add(t);
    }
    let lastWorker = Date.now();
    let stopping = false;
    let renewed = 0;
    while (pending.size > 0) {
      if (Date.now() - renewed > RENEW_MS) {
        await expireKeys(link, keys, ttlMs);
        renewed = Date.now();
      }
      if (o.signal?.aborted && !stopping) {
        stopping = true;
        await link.client.set(keys.stop, '1', 'PX', ttlMs);
      }
      for (const id of [...pending]) {
        const job = await queue.getJob(id);
        const state = job ? await job.getState() : 'missing';
        if (!job || state === 'unknown') {
          if (stopping) pending.delete(id);
          else await add(byId.get(id)!);
        } else if (state === 'completed') {
          const finished = (job.returnvalue as TaskOutcome | null)?.finished === true;
          await take(id, job, finished);
          if (!finished) {
            await job.remove();
            if (stopping) pending.delete(id);
            else await add(byId.get(id)!);
          }
        } else if (state === 'failed') {
          await o.onFiles(id, await readFiles(link, keys, id), false);
          throw new ClusterError(`task ${id} failed on a worker: ${link.redact(job.failedReason ?? 'no reason given')}; fix that and run again to continue it from its last checkpoint`);
        } else if (stopping && (state === 'waiting' || state === 'delayed' || state === 'prioritized')) {
          await job.remove().catch(() => undefined);
          await o.onFiles(id, await readFiles(link, keys, id), false);
          pending.delete(id);
        }
      }
      if (pending.size === 0) break;
      if ((await link.keysMatching(keys.workerPattern)).length > 0) lastWorker = Date.now();
      else if (Date.now() - lastWorker > workerTimeoutMs) {
        throw new NoWorkersError(`no study worker has served run '${o.runName}' at ${target.display} for ${Math.round(workerTimeoutMs / 1000)} s; start study workers that serve run '${o.runName}' on that Redis server, then run again to continue`, o.runName, target.display, 'study');
      }
      await Promise.race([new Promise((r) => setTimeout(r, pollMs)), failure]);
    }
    if (stopping) {
      await expireKeys(link, keys, ttlMs);
      return false;
    }
    await link.client.del(keys.stop);
    await queue.obliterate({ force: true }).catch(() => undefined);
    // what idle workers' BullMQ writes again (the queue's meta) goes within the hour
    await expireKeys(link, keys, 3_600_000);
    return true;
  } catch (e) {
    throw link.explain(e);
  } finally {
    await events.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    await link.close();
  }
}

/** How many tasks the workers serving `runName` take at once, all together (0 when none is there). */
export async function taskWorkerSlots(redisUrl: string, runName: string): Promise<number> {
  const keys = new TaskKeys(runName);
  const link = await RedisLink.open(parseRedisUrl(redisUrl), { name: `hesse-tasks:${runName}` });
  try {
    let slots = 0;
    for (const k of await link.keysMatching(keys.workerPattern)) {
      const info = JSON.parse((await link.client.get(k)) ?? '{}') as { concurrency?: unknown };
      slots += typeof info.concurrency === 'number' && info.concurrency > 0 ? info.concurrency : 1;
    }
    return slots;
  } finally {
    await link.close();
  }
}

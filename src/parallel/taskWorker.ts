/**
 * A task queue's worker (a study worker): it takes jobs, gives the handler the task's files, and
 * stores the files the handler saves. BullMQ renews the job's lock while the handler runs (the
 * handler must leave the event loop free: the study runs its task in a child process); a worker
 * that dies loses the lock, and another worker's stalled-job check puts the job back in the
 * queue. A heartbeat key says the worker is there; the stop key the owner sets stops handlers,
 * which save and end their tasks unfinished.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { OptionError } from '../errors.js';
import { JobRejectedError } from './errors.js';
import type { LinkEvent } from './linkHealth.js';
import { RedisLink } from './redisLink.js';
import { parseRedisUrl } from './redisUrl.js';
import { readFiles, writeFiles, type TaskFiles } from './taskFiles.js';
import { DEFAULT_TTL_MS, positive, QUEUE, TaskKeys, type Task, type TaskOutcome } from './taskKeys.js';

export interface TaskContext {
  /** the files the task's last save left (none for a fresh task) */
  files: TaskFiles;
  /** stores the task's files (every file of its state) in place of the earlier ones */
  save(files: ReadonlyMap<string, Uint8Array>): Promise<void>;
  /** tells the coordinator something (its onProgress) */
  progress(data: object): Promise<void>;
  /** the coordinator asked to stop, or this worker is stopping: save and return unfinished */
  signal: AbortSignal;
  workerId: string;
}

export type TaskWorkerEvent =
  | { type: 'connected'; url: string; id: string; concurrency: number }
  | { type: 'started'; task: string }
  | { type: 'ended'; task: string; finished: boolean; ms: number }
  | { type: 'failed'; task: string; reason: string }
  | { type: 'link'; event: LinkEvent }
  | { type: 'stopped' };

export interface ServeTasksOptions {
  redisUrl: string;
  runName: string;
  /** tasks at once (default 1) */
  concurrency?: number;
  handler: (task: Task, ctx: TaskContext) => Promise<TaskOutcome>;
  signal?: AbortSignal;
  onEvent?: (e: TaskWorkerEvent) => void;
  /** BullMQ's job lock: a worker that dies loses its task after this long (default 30 s) */
  lockDurationMs?: number;
  /** how often stalled jobs are looked for (default 15 s) */
  stalledIntervalMs?: number;
  /** how often a task may lose its worker before it fails (default 20) */
  maxStalledCount?: number;
  id?: string;
  ttlMs?: number;
}

/** Serves tasks of `runName` until the signal aborts; a handler's own error (a HesseError) fails its job without retries. */
export async function serveTasks(o: ServeTasksOptions): Promise<void> {
  const keys = new TaskKeys(o.runName);
  const target = parseRedisUrl(o.redisUrl);
  const concurrency = o.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new OptionError(`concurrency must be a positive integer, got ${concurrency}`);
  const lockDuration = positive('lockDurationMs', o.lockDurationMs, 30_000);
  const stalledInterval = positive('stalledIntervalMs', o.stalledIntervalMs, 15_000);
  const ttlMs = positive('ttlMs', o.ttlMs, DEFAULT_TTL_MS);
  const id = o.id ?? `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const emit = (e: TaskWorkerEvent) => {
    try {
      o.onEvent?.(e);
    } catch {
      // a faulty listener must not stop the worker
    }
  };
  const link = await RedisLink.open(target, { name: `hesse-task-worker:${id}`, onEvent: (event) => emit({ type: 'link', event }) });
  const stopAll = new AbortController();
  const stopped = new Promise<void>((resolve) => {
    if (o.signal?.aborted) resolve();
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  link.onFailure(() => stopAll.abort());
  const beat = () => link.client.set(keys.worker(id), JSON.stringify({ id, host: hostname(), pid: process.pid, concurrency }), 'PX', Math.max(3 * stalledInterval, 3000)).catch(() => undefined);
  await beat();
  const heartbeat = setInterval(() => void beat(), Math.max(1000, Math.min(stalledInterval, lockDuration / 2)));
  const processor = async (job: Job): Promise<TaskOutcome> => {
    const task: Task = { id: String(job.id), data: job.data };
    const t0 = performance.now();
    emit({ type: 'started', task: task.id });
    const mine = new AbortController();
    const stopMine = () => mine.abort();
    stopAll.signal.addEventListener('abort', stopMine);
    const watch = setInterval(() => {
      void link.client.exists(keys.stop).then((n) => n > 0 && mine.abort(), () => undefined);
    }, 1000);
    try {
      const outcome = await o.handler(task, {
        files: await readFiles(link, keys, task.id),
        save: (files) => writeFiles(link, keys, task.id, files, ttlMs),
        progress: (data) => job.updateProgress(data),
        signal: mine.signal,
        workerId: id,
      });
      emit({ type: 'ended', task: task.id, finished: outcome.finished, ms: performance.now() - t0 });
      return outcome;
    } catch (e) {
      const reason = link.redact(e instanceof Error ? e.message : String(e));
      emit({ type: 'failed', task: task.id, reason });
      // hesse's own errors (bad data, a damaged checkpoint) would fail the same way again
      if (e instanceof JobRejectedError || (e instanceof Error && e.name !== 'Error')) throw new UnrecoverableError(reason);
      throw e;
    } finally {
      clearInterval(watch);
      stopAll.signal.removeEventListener('abort', stopMine);
    }
  };
  const worker = new Worker(QUEUE, processor, {
    connection: link.client,
    prefix: keys.prefix,
    concurrency,
    lockDuration,
    stalledInterval,
    maxStalledCount: o.maxStalledCount ?? 20,
    drainDelay: 1,
    name: id,
  });
  worker.on('error', () => undefined);
  emit({ type: 'connected', url: target.display, id, concurrency });
  try {
    await Promise.race([stopped, new Promise<void>((resolve) => stopAll.signal.addEventListener('abort', () => resolve(), { once: true }))]);
  } finally {
    // the tasks in hand save and end unfinished; the coordinator gives them out again
    stopAll.abort();
    clearInterval(heartbeat);
    await worker.close().catch(() => undefined);
    await link.client.del(keys.worker(id)).catch(() => undefined);
    await link.close();
    emit({ type: 'stopped' });
  }
  if (link.failure) throw link.failure;
}

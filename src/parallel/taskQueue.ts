/**
 * Long tasks through Redis + BullMQ (a study's runs: minutes to days each), with the files that
 * make up each task's state kept in Redis beside its job, so that a task whose worker dies goes
 * on elsewhere from what it last saved, on any machine that reaches the server.
 *
 * - A coordinator adds one job per task (its id is the task's; a job already there for it is
 *   waited on, one that ended unfinished is added again) and waits for all of them; a finished
 *   task's files are handed to it, then deleted from Redis.
 * - A worker takes jobs, gives the handler the task's files, and stores the files the handler
 *   saves (all of a task's files in one HSET, so a reader sees one consistent set). BullMQ renews
 *   the job's lock while the handler runs (the handler must leave the event loop free: the study
 *   runs its task in a child process); a worker that dies loses the lock, and another worker's
 *   stalled-job check puts the job back in the queue.
 * - A stop (the coordinator's signal) is a key the workers watch: their handlers stop, save, and
 *   end their jobs unfinished, and waiting jobs are withdrawn. Running the coordinator again
 *   continues every task.
 *
 * Everything lives under `hesse:<run>:tasks:`; the coordinator gives it a TTL (`ttlMs`, renewed
 * every minute while it waits), so a study whose coordinator went away leaves nothing for good.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, QueueEvents, UnrecoverableError, Worker, type Job } from 'bullmq';
import { OptionError } from '../errors.js';
import { checkRunName } from './runKeys.js';
import { ClusterError, JobRejectedError, NoWorkersError } from './errors.js';
import type { LinkEvent } from './linkHealth.js';
import { RedisLink } from './redisLink.js';
import { parseRedisUrl } from './redisUrl.js';

const QUEUE = 'tasks';
const DEFAULT_TTL_MS = 7 * 24 * 3_600_000;

export class TaskKeys {
  readonly prefix: string;
  constructor(readonly run: string) {
    this.prefix = `hesse:${checkRunName(run)}:tasks`;
  }
  files(taskId: string): string {
    return `${this.prefix}:files:${taskId}`;
  }
  get stop(): string {
    return `${this.prefix}:stop`;
  }
  worker(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }
  get workerPattern(): string {
    return `${this.prefix}:worker:*`;
  }
}

export type TaskFiles = Map<string, Buffer>;

/**
 * Gives every key of the run a TTL (BullMQ writes its own without one), except those whose TTL is
 * a signal others act on: job locks, the stalled-check throttle, worker heartbeats.
 */
async function expireKeys(link: RedisLink, keys: TaskKeys, ttlMs: number): Promise<void> {
  const all = await link.keysMatching(`${keys.prefix}:*`);
  const targets = all.filter((k) => !k.endsWith(':lock') && !k.endsWith(':stalled-check') && !k.startsWith(`${keys.prefix}:worker:`));
  if (targets.length === 0) return;
  const p = link.client.pipeline();
  for (const k of targets) p.pexpire(k, ttlMs);
  await p.exec();
}

const RENEW_MS = 60_000;

export interface Task {
  id: string;
  data: unknown;
}

/** What a handler's job returned: whether the task is done (else it is taken up again later). */
export interface TaskOutcome {
  finished: boolean;
}

async function readFiles(link: RedisLink, keys: TaskKeys, id: string): Promise<TaskFiles> {
  const raw = await link.client.hgetallBuffer(keys.files(id));
  return new Map(Object.entries(raw));
}

async function writeFiles(link: RedisLink, keys: TaskKeys, id: string, files: ReadonlyMap<string, Uint8Array>, ttlMs: number): Promise<void> {
  if (files.size === 0) return;
  const key = keys.files(id);
  const fields: (string | Buffer)[] = [];
  for (const [name, bytes] of files) fields.push(name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  await link.client.multi().hset(key, ...fields).pexpire(key, ttlMs).exec();
}

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

function positive(what: string, v: number | undefined, fallback: number): number {
  const x = v ?? fallback;
  if (!(Number.isFinite(x) && x > 0)) throw new OptionError(`${what} must be a number of milliseconds above 0, got ${x}`);
  return x;
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

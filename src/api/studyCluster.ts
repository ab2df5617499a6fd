/**
 * A study on a Redis + BullMQ cluster: one job per run (parallel/taskQueue.ts). Where a run's
 * state lives: its four files (runs/ID/ of the study folder: checkpoint, curvature with the warm-
 * start eigenvector, log, result) travel through Redis, replaced after every write the run makes,
 * so a run whose worker dies continues on any other worker from its last checkpoint, on any
 * machine that reaches the server; no shared folder is needed. The coordinator's study folder
 * gets each run's files when it finishes (and the unfinished runs' when the coordinator stops);
 * a run begun in the study folder (a local run stopped part-way) starts from its files there.
 * Workers keep a scratch copy of the runs they hold.
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OptionError } from '../errors.js';
import { JobRejectedError, realRoots, resolveRedisUrl, runTasks, serveTasks, specWithinRoots, type LinkEvent, type TaskFiles, type TaskWorkerEvent } from '../parallel/index.js';
import { parseDataArg } from './dataArg.js';
import type { RunPlaceContext } from './study.js';
import { StudyProcess } from './studyProcesses.js';
import type { StudyEvent } from './studyRun.js';
import { RUN_FILES, runFolder } from './studyRunFiles.js';
import { resolveStudySettings, type StudySettings } from './studySettings.js';
import type { StudyRun } from './studyVariants.js';

export interface StudyClusterOptions {
  /** redis://[user:password@]host:port (default HESSE_REDIS_URL) */
  redisUrl?: string;
  /** the name the study workers serve (default 'hesse') */
  runName?: string;
  /** give up when runs wait and no worker has been seen for this long (default 120 s) */
  workerTimeoutMs?: number;
  onLinkEvent?: (e: LinkEvent) => void;
}

interface StudyTaskData {
  settings: StudySettings;
  run: StudyRun;
}

/** What a worker tells the coordinator: the run's events that say how it goes (not every step). */
const FORWARDED = new Set<StudyEvent['type']>(['run-start', 'checkpoint', 'divergence', 'run-end']);

async function folderFiles(dir: string): Promise<TaskFiles> {
  const out: TaskFiles = new Map();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return out;
  }
  for (const f of RUN_FILES) if (names.includes(f)) out.set(f, await readFile(join(dir, f)));
  return out;
}

async function writeFolder(dir: string, files: TaskFiles): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, bytes] of files) {
    if (!(RUN_FILES as readonly string[]).includes(name)) continue;
    await writeFile(join(dir, name), bytes);
  }
}

/** The runs as jobs on the cluster, until all finished or the signal stopped them. */
export async function runOnCluster(runs: readonly StudyRun[], c: RunPlaceContext, o: StudyClusterOptions): Promise<void> {
  const redisUrl = resolveRedisUrl(o.redisUrl);
  await runTasks({
    redisUrl,
    runName: o.runName ?? 'hesse',
    tasks: runs.map((run) => ({ id: run.id, data: { settings: c.settings, run } satisfies StudyTaskData })),
    initialFiles: (id) => folderFiles(runFolder(c.dir, id)),
    onFiles: (id, files) => writeFolder(runFolder(c.dir, id), files),
    onProgress: (_id, data) => c.onEvent?.(data as StudyEvent),
    ...(c.signal ? { signal: c.signal } : {}),
    ...(o.workerTimeoutMs !== undefined ? { workerTimeoutMs: o.workerTimeoutMs } : {}),
    ...(o.onLinkEvent ? { onLinkEvent: o.onLinkEvent } : {}),
  });
}

export interface StudyWorkerOptions {
  redisUrl?: string;
  runName?: string;
  /** runs at once, each in a worker process of its own (default 1) */
  concurrency?: number;
  /** where the runs in hand are kept (default a folder in the system's temporary directory) */
  scratch?: string;
  /** directories CIFAR files may be read from; a run naming data elsewhere is refused */
  datasetRoots?: string[];
  signal?: AbortSignal;
  onEvent?: (e: TaskWorkerEvent | { type: 'run'; event: StudyEvent }) => void;
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  id?: string;
}

/** Serves the runs of studies sent to `runName` until the signal aborts (`hesse study-worker`). */
export async function serveStudy(o: StudyWorkerOptions): Promise<void> {
  const redisUrl = resolveRedisUrl(o.redisUrl);
  const runName = o.runName ?? 'hesse';
  const roots = await realRoots(o.datasetRoots ?? []);
  const scratch = o.scratch ?? join(tmpdir(), `hesse-study-${runName}-${process.pid}`);
  await mkdir(scratch, { recursive: true });
  const idle: StudyProcess[] = [];
  try {
    await serveTasks({
      redisUrl,
      runName,
      ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(o.onEvent ? { onEvent: o.onEvent } : {}),
      ...(o.lockDurationMs !== undefined ? { lockDurationMs: o.lockDurationMs } : {}),
      ...(o.stalledIntervalMs !== undefined ? { stalledIntervalMs: o.stalledIntervalMs } : {}),
      ...(o.id !== undefined ? { id: o.id } : {}),
      handler: async (task, ctx) => {
        const { settings: sent, run } = task.data as StudyTaskData;
        let settings: StudySettings;
        try {
          settings = resolveStudySettings(sent as Partial<StudySettings> & { preset?: string });
          // the data must be this machine's to read: inside a dataset root, where it is found
          const spec = await specWithinRoots(parseDataArg(settings.data, 'train'), roots);
          if (spec.kind === 'cifar10' || spec.kind === 'cifar100') settings = { ...settings, data: `${spec.kind}:${spec.dir}` };
        } catch (e) {
          if (e instanceof OptionError) throw new JobRejectedError(`run ${task.id}: ${e.message}`);
          throw e;
        }
        const dir = join(scratch, run.id);
        // Redis holds the run's state: what is here from before may be older
        await rm(dir, { recursive: true, force: true });
        await writeFolder(dir, ctx.files);
        const proc = idle.pop() ?? new StudyProcess();
        try {
          await proc.run(dir, settings, run, {
            signal: ctx.signal,
            worker: ctx.workerId,
            onSaved: async () => ctx.save(await folderFiles(dir)),
            onEvent: (event) => {
              o.onEvent?.({ type: 'run', event });
              if (FORWARDED.has(event.type)) void ctx.progress(event).catch(() => undefined);
            },
          });
          idle.push(proc);
        } catch (e) {
          await proc.close(true);
          throw e;
        }
        const files = await folderFiles(dir);
        return { finished: files.has('result.json') };
      },
    });
  } finally {
    await Promise.all(idle.map((p) => p.close()));
  }
}

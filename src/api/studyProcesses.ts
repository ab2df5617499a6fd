/**
 * Runs of a study side by side, each in a worker process of its own (`--parallel N`).
 *
 * Processes rather than worker threads: a run is a whole training (minutes to days) holding its
 * model, optimiser and data; in a process of its own it has its own heap limit and its own native
 * kernel threads, a run that fails (out of memory, a crash in native code) takes down only its
 * process, and a stop reaches it as a message while it trains. The same child serves a cluster
 * worker, whose event loop must stay free to renew its job locks while the run computes.
 *
 * A child runs one run at a time in the run's folder and tells the parent after every write (checkpoint,
 * curvature, log), then waits for the parent's answer before going on: a cluster worker ships the
 * files in that pause, so what it ships is always a consistent state.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { HesseError } from '../errors.js';
import { workerEntry } from '../parallel/workerScript.js';
import type { RunPlaceContext } from './study.js';
import type { StudyEvent } from './studyRun.js';
import { runFolder } from './studyRunFiles.js';
import type { StudySettings } from './studySettings.js';
import type { StudyRun } from './studyVariants.js';

/** A run that failed in its worker process with one of hesse's own errors (its message), or crashed. */
export class StudyRunError extends HesseError {}

export type ToChild = { type: 'run'; dir: string; settings: StudySettings; run: StudyRun; worker?: string } | { type: 'stop' } | { type: 'ack' } | { type: 'exit' };
export type FromChild =
  | { type: 'event'; event: StudyEvent }
  | { type: 'saved' }
  | { type: 'finished'; stopped: boolean }
  | { type: 'error'; message: string; userError: boolean };

export interface ChildRunOptions {
  signal?: AbortSignal;
  onEvent?: (e: StudyEvent) => void;
  /** after each write of the run's files; the child waits until it resolves */
  onSaved?: () => Promise<void>;
  /** the run's log names its runner so */
  worker?: string;
}

interface Current {
  run: StudyRun;
  o: ChildRunOptions;
  resolve: () => void;
  reject: (e: Error) => void;
  stop: () => void;
}

/**
 * A worker process that runs study runs one after the other (it starts once and keeps its data).
 * `run` resolves when the run finished or stopped (the signal), and rejects with a StudyRunError
 * when the run failed or the process died; after that the process is gone.
 */
export class StudyProcess {
  private readonly child: ChildProcess;
  private current: Current | undefined;
  private stderr = '';
  private exited = false;

  constructor() {
    const entry = workerEntry('studyProcess', import.meta.url);
    this.child = fork(entry.url, [], {
      execArgv: [...process.execArgv.filter((a) => !a.startsWith('--inspect')), ...entry.execArgv],
      // one kernel thread per process: the processes share the cores
      env: { ...process.env, HESSE_THREADS: process.env.HESSE_THREADS ?? '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'advanced',
    });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-2000);
    });
    this.child.on('message', (m: FromChild) => this.onMessage(m));
    this.child.on('error', (e) => this.end(e));
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const last = this.stderr.trim().split('\n').at(-1);
      this.end(new StudyRunError(`the worker process of run ${this.current?.run.id ?? '(none)'} ${how}${last ? `: ${last}` : ''}; run the study again to continue it from its last checkpoint`));
    });
  }

  private send(m: ToChild): void {
    if (this.child.connected) this.child.send(m);
  }

  private end(error?: Error): void {
    const c = this.current;
    if (!c) return;
    this.current = undefined;
    c.o.signal?.removeEventListener('abort', c.stop);
    if (error) c.reject(error);
    else c.resolve();
  }

  private onMessage(m: FromChild): void {
    const c = this.current;
    if (!c) return;
    switch (m.type) {
      case 'event':
        c.o.onEvent?.(m.event);
        break;
      case 'saved':
        Promise.resolve(c.o.onSaved?.()).then(
          () => this.send({ type: 'ack' }),
          (e: unknown) => {
            this.end(e instanceof Error ? e : new Error(String(e)));
            this.child.kill('SIGKILL');
          },
        );
        break;
      case 'finished':
        this.end();
        break;
      case 'error':
        this.end(m.userError ? new StudyRunError(`run ${c.run.id}: ${m.message}`) : new Error(`run ${c.run.id}: ${m.message}`));
        break;
    }
  }

  run(dir: string, settings: StudySettings, run: StudyRun, o: ChildRunOptions = {}): Promise<void> {
    if (this.exited) return Promise.reject(new StudyRunError(`the worker process is gone; run ${run.id} did not start`));
    if (this.current) return Promise.reject(new Error(`the worker process is busy with run ${this.current.run.id}`));
    return new Promise((resolve, reject) => {
      const stop = () => this.send({ type: 'stop' });
      this.current = { run, o, resolve, reject, stop };
      o.signal?.addEventListener('abort', stop, { once: true });
      this.send({ type: 'run', dir, settings, run, ...(o.worker ? { worker: o.worker } : {}) });
      if (o.signal?.aborted) stop();
    });
  }

  /** Ends the process (after its run, or at once with `kill`). */
  close(kill = false): Promise<void> {
    if (this.exited) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      if (kill) this.child.kill('SIGKILL');
      else this.send({ type: 'exit' });
    });
  }
}

/** The runs on up to `n` worker processes at once; a run that fails stops the others (each keeps its checkpoint). */
export async function runOnProcesses(runs: readonly StudyRun[], c: RunPlaceContext, n: number): Promise<void> {
  const queue = [...runs];
  const failure = new AbortController();
  const stopAll = c.signal ? AbortSignal.any([c.signal, failure.signal]) : failure.signal;
  let firstError: unknown;
  const lane = async () => {
    const worker = new StudyProcess();
    try {
      for (;;) {
        if (stopAll.aborted) return;
        const run = queue.shift();
        if (!run) return;
        await worker.run(runFolder(c.dir, run.id), c.settings, run, { signal: stopAll, ...(c.onEvent ? { onEvent: c.onEvent } : {}) });
      }
    } catch (e) {
      firstError ??= e;
      failure.abort();
    } finally {
      await worker.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, runs.length) }, lane));
  if (firstError) throw firstError;
}

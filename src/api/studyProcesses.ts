/**
 * Runs of a study side by side, each in a worker process of its own (`--parallel N`).
 *
 * Processes rather than worker threads: a run is a whole training (minutes to days) holding its
 * model, optimiser and data; in a process of its own it has its own heap limit and its own native
 * kernel threads, a run that fails (out of memory, a crash in native code) takes down only its
 * process, and a stop reaches it as a message while it trains. The same child serves a cluster
 * worker, whose event loop must stay free to renew its job locks while the run computes.
 *
 * A child runs one run in the run's folder and tells the parent after every write (checkpoint,
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

export type ToChild = { type: 'run'; dir: string; settings: StudySettings; run: StudyRun; worker?: string } | { type: 'stop' } | { type: 'ack' };
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

/**
 * Runs `run` of the study in `dir` in a new worker process; resolves when it finished or stopped
 * (the signal), rejects with a StudyRunError when it failed or died.
 */
export function runInChild(dir: string, settings: StudySettings, run: StudyRun, o: ChildRunOptions = {}): Promise<void> {
  const entry = workerEntry('studyProcess', import.meta.url);
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = fork(entry.url, [], {
        execArgv: [...process.execArgv.filter((a) => !a.startsWith('--inspect')), ...entry.execArgv],
        // one kernel thread per process: the processes share the cores
        env: { ...process.env, HESSE_THREADS: process.env.HESSE_THREADS ?? '1' },
        stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        serialization: 'advanced',
      });
    } catch (e) {
      return reject(e);
    }
    let settled = false;
    let stderr = '';
    let outcome: { ok: true } | { ok: false; error: Error } | undefined;
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    const send = (m: ToChild) => {
      if (child.connected) child.send(m);
    };
    const stop = () => send({ type: 'stop' });
    o.signal?.addEventListener('abort', stop, { once: true });
    const settle = (error?: Error) => {
      if (settled) return;
      settled = true;
      o.signal?.removeEventListener('abort', stop);
      if (error) reject(error);
      else resolve();
    };
    child.on('message', (m: FromChild) => {
      switch (m.type) {
        case 'event':
          o.onEvent?.(m.event);
          break;
        case 'saved':
          Promise.resolve(o.onSaved?.()).then(
            () => send({ type: 'ack' }),
            (e: unknown) => {
              outcome = { ok: false, error: e instanceof Error ? e : new Error(String(e)) };
              child.kill('SIGKILL');
            },
          );
          break;
        case 'finished':
          outcome = { ok: true };
          break;
        case 'error':
          outcome = { ok: false, error: m.userError ? new StudyRunError(`run ${run.id}: ${m.message}`) : new Error(`run ${run.id}: ${m.message}`) };
          break;
      }
    });
    child.on('error', (e) => settle(e));
    child.on('exit', (code, signal) => {
      if (outcome?.ok) return settle();
      if (outcome && !outcome.ok) return settle(outcome.error);
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      settle(new StudyRunError(`the worker process of run ${run.id} ${how}${stderr.trim() ? `: ${stderr.trim().split('\n').at(-1)}` : ''}; run the study again to continue it from its last checkpoint`));
    });
    if (o.signal?.aborted) stop();
    send({ type: 'run', dir, settings, run, ...(o.worker ? { worker: o.worker } : {}) });
  });
}

/** The runs on up to `n` worker processes at once; a run that fails stops the others (each keeps its checkpoint). */
export async function runOnProcesses(runs: readonly StudyRun[], c: RunPlaceContext, n: number): Promise<void> {
  const queue = [...runs];
  const failure = new AbortController();
  const stopAll = c.signal ? AbortSignal.any([c.signal, failure.signal]) : failure.signal;
  let firstError: unknown;
  const lane = async () => {
    for (;;) {
      if (stopAll.aborted) return;
      const run = queue.shift();
      if (!run) return;
      try {
        await runInChild(runFolder(c.dir, run.id), c.settings, run, { signal: stopAll, ...(c.onEvent ? { onEvent: c.onEvent } : {}) });
      } catch (e) {
        firstError ??= e;
        failure.abort();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, runs.length) }, lane));
  if (firstError) throw firstError;
}

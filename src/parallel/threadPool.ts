import { Piscina } from 'piscina';
import { HesseError, OptionError } from '../errors.js';
import { HESSE_ERROR_MARK, NO_MODEL, type ThreadRequest } from './threadProtocol.js';
import { workerEntry } from './workerScript.js';

/** An error raised by hesse's own checks in a thread (a user's mistake, not a crash), with the thread's message. */
export class ThreadTaskError extends HesseError {}

/** Errors cross the thread boundary as plain Errors; hesse's own (marked) become ThreadTaskErrors with their message. */
function fromThread(e: unknown, where: string): Error {
  if (!(e instanceof Error)) return new Error(`${where}: ${String(e)}`);
  const at = e.message.indexOf(HESSE_ERROR_MARK);
  if (at < 0) return e;
  const rest = e.message.slice(at + HESSE_ERROR_MARK.length);
  return new ThreadTaskError(`${where}: ${rest.slice(rest.indexOf(': ') + 2)}`);
}

/**
 * Worker threads, each its own one-thread piscina pool, so work can be pinned to a thread and
 * find its cached primal passes there. Models are sent to every thread once; a thread that was
 * restarted after a crash gets them again on its next request.
 */
export class ThreadPool {
  private readonly pools: Piscina[];
  private readonly models = new Map<string, Uint8Array>();
  private closed = false;

  constructor(
    readonly size: number,
    cacheBytesPerThread: number,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new OptionError(`the number of worker threads must be a positive integer, got ${size}`);
    const entry = workerEntry('threadWorker');
    this.pools = Array.from(
      { length: size },
      () =>
        new Piscina({
          filename: entry.url.href,
          execArgv: entry.execArgv,
          minThreads: 1,
          maxThreads: 1,
          idleTimeout: 2 ** 31 - 1,
          atomics: 'disabled',
          workerData: { cacheBytes: cacheBytesPerThread },
          // the native kernels' own threads would only compete with the other workers for the cores
          env: { ...process.env, HESSE_THREADS: process.env.HESSE_THREADS ?? '1' },
        }),
    );
  }

  hasModel(hash: string): boolean {
    return this.models.has(hash);
  }

  /** Loads a model into every thread; returns its parameter count. Older models beyond two are forgotten. */
  async loadModel(hash: string, bytes: Uint8Array): Promise<number> {
    const sizes = await Promise.all(this.pools.map((_, w) => this.runRaw<number>(w, { op: 'model', hash, bytes }, 'loading the model')));
    this.models.set(hash, bytes);
    while (this.models.size > 2) this.models.delete(this.models.keys().next().value!);
    return sizes[0]!;
  }

  private async runRaw<T>(w: number, req: ThreadRequest, where: string): Promise<T> {
    if (this.closed) throw new OptionError('the worker threads were closed');
    try {
      return (await this.pools[w]!.run(req)) as T;
    } catch (e) {
      throw fromThread(e, where);
    }
  }

  /** Runs a request on thread `w`. */
  async run<T>(w: number, req: ThreadRequest, where: string): Promise<T> {
    try {
      return await this.runRaw<T>(w, req, where);
    } catch (e) {
      const hash = 'task' in req ? req.task.modelHash : undefined;
      if (hash && e instanceof Error && e.message.includes(NO_MODEL) && this.models.has(hash)) {
        await this.runRaw(w, { op: 'model', hash, bytes: this.models.get(hash)! }, 'reloading the model');
        return this.runRaw<T>(w, req, where);
      }
      throw e;
    }
  }

  async destroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.pools.map((p) => p.destroy()));
  }
}

/**
 * How a worker watches the run key between runs: reading the run's meta (a key that is missing or
 * unreadable is no run), waiting between reads, and never holding up a stop.
 */
import type { RunMeta } from './clusterProtocol.js';
import type { RedisLink } from './redisLink.js';
import type { RunKeys } from './runKeys.js';

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** `p`, or undefined as soon as `signal` aborts (a command waiting for Redis to come back must not hold up a stop). */
export function unlessAborted<T>(p: Promise<T>, signal?: AbortSignal): Promise<T | undefined> {
  if (!signal) return p;
  p.catch(() => undefined);
  return new Promise((resolve, reject) => {
    const stop = () => resolve(undefined);
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** The run the run key names, or null when there is none. */
export async function readMeta(link: RedisLink, keys: RunKeys): Promise<RunMeta | null> {
  const raw = await link.client.get(keys.meta);
  if (!raw) return null;
  try {
    const m = JSON.parse(raw) as RunMeta;
    return typeof m.runId === 'string' ? m : null;
  } catch {
    return null;
  }
}

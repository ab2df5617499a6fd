/**
 * What the task queue (taskQueue.ts) names in Redis and shares between its owner and its
 * workers: the keys under `hesse:<run>:tasks:`, the BullMQ queue's name, a task and its outcome,
 * the TTL every key but the signalling ones is given, and how its options are checked.
 */
import { OptionError } from '../errors.js';
import { checkRunName } from './runKeys.js';
import type { RedisLink } from './redisLink.js';

export const QUEUE = 'tasks';
export const DEFAULT_TTL_MS = 7 * 24 * 3_600_000;

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

export interface Task {
  id: string;
  data: unknown;
}

/** What a handler's job returned: whether the task is done (else it is taken up again later). */
export interface TaskOutcome {
  finished: boolean;
}

/**
 * Gives every key of the run a TTL (BullMQ writes its own without one), except those whose TTL is
 * a signal others act on: job locks, the stalled-check throttle, worker heartbeats.
 */
export async function expireKeys(link: RedisLink, keys: TaskKeys, ttlMs: number): Promise<void> {
  const all = await link.keysMatching(`${keys.prefix}:*`);
  const targets = all.filter((k) => !k.endsWith(':lock') && !k.endsWith(':stalled-check') && !k.startsWith(`${keys.prefix}:worker:`));
  if (targets.length === 0) return;
  const p = link.client.pipeline();
  for (const k of targets) p.pexpire(k, ttlMs);
  await p.exec();
}

export function positive(what: string, v: number | undefined, fallback: number): number {
  const x = v ?? fallback;
  if (!(Number.isFinite(x) && x > 0)) throw new OptionError(`${what} must be a number of milliseconds above 0, got ${x}`);
  return x;
}

/**
 * Where the things of one run live in Redis. Everything of one run lives under `hesse:<run>:`,
 * so a run is removed (or checked for leftovers) with one SCAN pattern.
 */
import { OptionError } from '../errors.js';

/** BullMQ's queue of a run's shard jobs, under the run's prefix */
export const QUEUE_NAME = 'jobs';

export function checkRunName(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new OptionError(`run name '${name}' must be 1 to 64 letters, digits, '.', '_' or '-'`);
  return name;
}

/** Key names of one run. */
export class RunKeys {
  readonly prefix: string;
  constructor(readonly run: string) {
    this.prefix = `hesse:${checkRunName(run)}`;
  }
  /** BullMQ's prefix; its queue is named `jobs` */
  get queuePrefix(): string {
    return this.prefix;
  }
  get pattern(): string {
    return `${this.prefix}:*`;
  }
  get meta(): string {
    return `${this.prefix}:run`;
  }
  model(hash: string): string {
    return `${this.prefix}:model:${hash}`;
  }
  theta(hash: string): string {
    return `${this.prefix}:theta:${hash}`;
  }
  vectors(runId: string, seq: number): string {
    return `${this.prefix}:vec:${runId}:${seq}`;
  }
  result(runId: string, seq: number, shard: number): string {
    return `${this.prefix}:res:${runId}:${seq}:${shard}`;
  }
  worker(id: string): string {
    return `${this.prefix}:worker:${id}`;
  }
  workerId(key: string): string {
    return key.slice(`${this.prefix}:worker:`.length);
  }
  get workerPattern(): string {
    return `${this.prefix}:worker:*`;
  }
  isWorkerKey(key: string): boolean {
    return key.startsWith(`${this.prefix}:worker:`);
  }
  /**
   * Keys whose TTL is a signal that others act on: a worker's heartbeat, BullMQ's job locks, its
   * stalled-check throttle, rate limiter and deduplication keys. Renewing these with the run's
   * keys would keep a dead worker's job locked, and so never retried.
   */
  keepsOwnTtl(key: string): boolean {
    if (this.isWorkerKey(key)) return true;
    const queue = `${this.prefix}:${QUEUE_NAME}:`;
    if (!key.startsWith(queue)) return false;
    const rest = key.slice(queue.length);
    return rest.endsWith(':lock') || rest === 'stalled-check' || rest === 'limiter' || rest.startsWith('de:');
  }
  isVectorKey(key: string, runId: string): boolean {
    const head = `${this.prefix}:vec:${runId}:`;
    return key.startsWith(head) && /^\d+$/.test(key.slice(head.length));
  }
}

import type { DatasetSpec } from '../data/index.js';
import type { ShardTask } from './shardWorkspace.js';

/** What the main thread asks a worker thread (threadWorker.ts) to do. */
export type ThreadRequest =
  | { op: 'model'; hash: string; bytes: Uint8Array }
  | { op: 'product'; task: ShardTask; spec: DatasetSpec; theta: { id: string; buffer: SharedArrayBuffer }; vectors: SharedArrayBuffer; k: number }
  | { op: 'loss'; task: Omit<ShardTask, 'kind' | 'maxBlock'>; spec: DatasetSpec; theta: SharedArrayBuffer }
  | { op: 'stats' };

/** Thrown when a request names a model this thread does not hold (it was restarted): the sender reloads it. */
export const NO_MODEL = 'hesse-no-model';


/**
 * Structured cloning keeps an Error's message but not its class, so a thread marks hesse's own
 * errors (a user's mistake, not a crash) with this prefix and the class name.
 */
export const HESSE_ERROR_MARK = 'hesse-error:';

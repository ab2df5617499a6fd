/**
 * The pieces a claimed cluster run is made of, and the two ways they are taken down: a clean
 * close removes the run from Redis, a failed start leaves what it can to expire.
 */
import type { ClusterProgress } from './clusterOptions.js';
import type { JobDispatcher } from './jobDispatch.js';
import type { RedisLink } from './redisLink.js';
import type { RunOwnership } from './runOwnership.js';
import type { ShardAffinity } from './shardAffinity.js';
import type { VectorStore } from './vectorStore.js';

export interface RunParts {
  link: RedisLink;
  ownership: RunOwnership;
  store: VectorStore;
  dispatch: JobDispatcher;
  affinity: ShardAffinity;
}

/** What the run's pieces count, with the vectors multiplied so far. */
export function runProgress({ dispatch, ownership, store }: RunParts, products: number): ClusterProgress {
  return {
    products,
    jobsDone: dispatch.jobsDone,
    jobsPending: dispatch.pending,
    workersSeen: ownership.seen.size,
    workersAlive: ownership.alive.length,
    retries: dispatch.retries,
    bytesSent: store.bytesSent,
    bytesReceived: store.bytesReceived,
    workerBytes: dispatch.workerBytes,
  };
}

/** Closes a run whose jobs were stopped: withdrawn, its queue closed and its keys swept where Redis answers. */
export async function closeRunParts({ link, ownership, dispatch }: RunParts): Promise<void> {
  // with Redis away there is nothing to clean: the run's keys expire by themselves
  const clean = link.reachable;
  try {
    if (clean) await ownership.withdraw();
    await dispatch.close(clean);
    if (clean) await ownership.sweep();
  } catch {
    // Redis went away while closing: the keys expire by themselves
  } finally {
    ownership.stop();
    await link.close();
  }
}

/** Takes down what a run that failed to start had made so far. */
export async function abandonRunParts(link: RedisLink, ownership: RunOwnership | undefined, dispatch: JobDispatcher | undefined): Promise<void> {
  ownership?.stop();
  await dispatch?.close(link.reachable);
  if (link.reachable) await ownership?.sweep().catch(() => undefined);
  await link.close();
}

import type { ClusterProgress } from '../parallel/index.js';
import type { CommandContext } from './context.js';

/** Says when the cluster's state changes: workers seen, retries (products show on the progress bar). */
export function clusterNarrator(ctx: CommandContext): (p: ClusterProgress) => void {
  let last = '';
  return (p) => {
    const line = `cluster: ${p.workersAlive} worker(s) alive, ${p.workersSeen} seen, ${p.retries} retried job(s), ${p.products} products`;
    const key = `${p.workersAlive}/${p.workersSeen}/${p.retries}`;
    if (key !== last) ctx.progress.say(line);
    last = key;
  };
}

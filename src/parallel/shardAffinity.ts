import type { ShardJob, ShardJobResult } from './clusterProtocol.js';
import type { ShardRange } from './shardPlan.js';

/**
 * Which worker each shard is meant for: the one that computed it last holds its primal passes,
 * so its product jobs wait for it a while (`affinityMs`) before any worker may take them. Shards
 * of departed workers go to the living worker with the fewest samples, so each keeps its own.
 */
export class ShardAffinity {
  private readonly owners: (string | undefined)[];

  constructor(
    private readonly shards: readonly ShardRange[],
    private readonly affinityMs: number,
  ) {
    this.owners = shards.map(() => undefined);
  }

  /** Marks each product job with its shard's worker, after reassigning the shards of departed workers among `alive`. */
  prefer(jobs: ShardJob[], alive: readonly string[]): void {
    if (this.affinityMs === 0 || alive.length === 0) return;
    const size = (s: number) => this.shards[s]!.end - this.shards[s]!.start;
    const load = new Map(alive.map((w) => [w, 0]));
    this.owners.forEach((o, s) => {
      if (o !== undefined && load.has(o)) load.set(o, load.get(o)! + size(s));
      else this.owners[s] = undefined;
    });
    this.owners.forEach((o, s) => {
      if (o !== undefined) return;
      let best = alive[0]!;
      for (const w of alive) if (load.get(w)! < load.get(best)!) best = w;
      this.owners[s] = best;
      load.set(best, load.get(best)! + size(s));
    });
    for (const j of jobs) {
      const o = this.owners[j.shardIndex];
      // loss evaluations use no cached passes: any worker will do
      if (o !== undefined && j.op === 'product') {
        j.preferred = o;
        j.preferMs = this.affinityMs;
      }
    }
  }

  /** The shards' primal passes are where they were computed last. */
  record(jobs: readonly ShardJob[], done: readonly ShardJobResult[]): void {
    done.forEach((d, i) => {
      if (jobs[i]!.op === 'product') this.owners[jobs[i]!.shardIndex] = d.worker;
    });
  }
}

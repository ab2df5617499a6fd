import type { ShardJob, ShardJobResult } from './clusterProtocol.js';
import type { ShardRange } from '../curvature/index.js';

/**
 * Which worker each shard is meant for: the one that computed it last holds its primal passes,
 * so its product jobs wait for it a while (`affinityMs`) before any worker may take them. Shards
 * of departed workers go to the living worker with the fewest samples, so each keeps its own, and
 * shards move from a worker with far more samples than another until the loads are even.
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
    const lightest = () => alive.reduce((a, w) => (load.get(w)! < load.get(a)! ? w : a));
    this.owners.forEach((o, s) => {
      if (o !== undefined) return;
      const best = lightest();
      this.owners[s] = best;
      load.set(best, load.get(best)! + size(s));
    });
    // whoever computed a shard last keeps it, but not when that leaves a worker with far more
    // than another (the first product goes to whoever is quickest): the smallest shard that
    // narrows the gap moves, at the price of one primal pass where it lands
    for (;;) {
      const heavy = alive.reduce((a, w) => (load.get(w)! > load.get(a)! ? w : a));
      const light = lightest();
      const movable = [...this.owners.keys()].filter((s) => this.owners[s] === heavy && load.get(light)! + size(s) < load.get(heavy)!);
      if (movable.length === 0) break;
      const s = movable.reduce((a, b) => (size(b) < size(a) ? b : a));
      this.owners[s] = light;
      load.set(heavy, load.get(heavy)! - size(s));
      load.set(light, load.get(light)! + size(s));
    }
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

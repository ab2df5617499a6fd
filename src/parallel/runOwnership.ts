/**
 * A coordinator's hold on a run name: it claims the name (refusing one a live coordinator holds,
 * clearing what a dead one left), publishes the run (workers admit themselves to its id), keeps
 * it alive with a heartbeat that also renews the TTL of the run's keys and counts the workers,
 * and at the end withdraws the run and deletes every key of it.
 */
import { PROTOCOL_VERSION, type RunMeta } from './clusterProtocol.js';
import type { RunKeys } from './runKeys.js';
import { ClusterError } from './errors.js';
import type { RedisLink } from './redisLink.js';
import { expireRunKeys } from './runExpiry.js';

export interface OwnershipOptions {
  heartbeatMs: number;
  ttlMs: number;
}

/** How long close waits for the workers to leave a withdrawn run, so that none writes into it afterwards. */
const LEAVE_WAIT_MS = 10_000;

export class RunOwnership {
  /** workers whose heartbeat is current, sorted */
  alive: string[] = [];
  readonly seen = new Set<string>();
  /** when a worker was last seen alive (or the run started) */
  lastWorkerAt = Date.now();
  /** after each heartbeat that reached Redis */
  onBeat: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  private constructor(
    private readonly link: RedisLink,
    private readonly keys: RunKeys,
    readonly runId: string,
    private readonly opts: OwnershipOptions,
  ) {}

  private meta(): RunMeta {
    return { v: PROTOCOL_VERSION, runId: this.runId, heartbeat: Date.now(), heartbeatMs: this.opts.heartbeatMs, ttlMs: this.opts.ttlMs };
  }

  /** Claims the run name; a ClusterError when a live coordinator holds it. Call publish() once the run's inputs are stored. */
  static async claim(link: RedisLink, keys: RunKeys, runId: string, opts: OwnershipOptions): Promise<RunOwnership> {
    const existing = await link.client.get(keys.meta);
    if (existing) {
      let live = true;
      try {
        const m = JSON.parse(existing) as RunMeta;
        live = Date.now() - m.heartbeat < 3 * (m.heartbeatMs || 1000);
      } catch {
        live = false;
      }
      if (live) throw new ClusterError(`run '${keys.run}' on ${link.target.display} is in use by another coordinator; give this one another run name (and start its workers with the same name)`);
    }
    // worker keys belong to live workers and expire by themselves
    const stale = (await link.keysMatching(keys.pattern)).filter((k) => !keys.isWorkerKey(k));
    if (stale.length) await link.client.del(...stale);
    return new RunOwnership(link, keys, runId, opts);
  }

  /** Publishes the run and starts the heartbeat. */
  async publish(): Promise<void> {
    await this.beat();
    this.timer = setInterval(() => void this.beat(), this.opts.heartbeatMs);
  }

  /** One heartbeat: the run key, the TTL of every key, the workers; never two at once (Redis may be slow or away). */
  beat(): Promise<void> {
    this.beating ??= this.beatOnce().finally(() => (this.beating = undefined));
    return this.beating;
  }

  private async beatOnce(): Promise<void> {
    if (!this.link.reachable) return;
    try {
      await this.link.client.set(this.keys.meta, JSON.stringify(this.meta()), 'PX', this.opts.ttlMs);
      this.alive = (await expireRunKeys(this.link, this.keys, this.opts.ttlMs, 'renew')).sort();
    } catch {
      // Redis went away in the middle: the link says so and gives up in time
      return;
    }
    for (const w of this.alive) this.seen.add(w);
    if (this.alive.length > 0) this.lastWorkerAt = Date.now();
    this.onBeat?.();
  }

  /** Withdraws the run: the heartbeat stops, the run key goes, and the workers (a little while) leave. */
  async withdraw(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.link.client.del(this.keys.meta);
    const until = Date.now() + LEAVE_WAIT_MS;
    while ((await this.link.keysMatching(this.keys.workerPattern)).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
  }

  /** Stops the heartbeat without touching Redis (it is away, or the run failed). */
  stop(): void {
    clearInterval(this.timer);
  }

  /** Deletes every key of the run. */
  async sweep(): Promise<void> {
    const left = await this.link.keysMatching(this.keys.pattern);
    if (left.length) await this.link.client.del(...left);
  }
}

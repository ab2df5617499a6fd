/**
 * The ioredis connections of one coordinator or worker, sharing one view of whether Redis can be
 * reached (LinkHealth). ioredis reconnects each connection by itself, forever by default; a link
 * bounds that: the first connection fails at once (a wrong URL should say so, not retry), and a
 * connection lost later is tried again only until the link's health gives up, whereupon every
 * waiting command and caller receives its one ClusterError.
 */
import type { Redis, RedisOptions } from 'ioredis';
import { ClusterError } from './errors.js';
import { LinkHealth, type LinkEvent } from './linkHealth.js';
import { redisClient } from './redisClient.js';
import { redactTarget, type RedisTarget } from './redisUrl.js';

export interface RedisLinkOptions {
  /** the connection name Redis shows in CLIENT LIST */
  name: string;
  /** how long one connection attempt may take (default 3 s) */
  connectTimeoutMs?: number;
  /** after losing Redis, how long to keep trying before giving up (default 60 s) */
  reconnectTimeoutMs?: number;
  onEvent?: (e: LinkEvent) => void;
}

export class RedisLink {
  /** the connection for the owner's own commands (BullMQ duplicates it for its blocking ones) */
  readonly client: Redis;
  private readonly clients = new Set<Redis>();
  private readonly health: LinkHealth;
  private closing = false;

  private constructor(
    readonly target: RedisTarget,
    private readonly opts: RedisLinkOptions,
  ) {
    this.health = new LinkHealth({
      target,
      redact: (text) => this.redact(text),
      ...(opts.reconnectTimeoutMs !== undefined ? { reconnectTimeoutMs: opts.reconnectTimeoutMs } : {}),
      onEvent: opts.onEvent,
      // the offline queues are flushed, so every waiting command fails now instead of waiting on
      onGiveUp: () =>
        setImmediate(() => {
          for (const c of this.clients) c.disconnect();
        }),
    });
    this.client = this.make(opts.name, true);
  }

  /** Connects; a ClusterError naming the server (never the password) when it cannot. */
  static async open(target: RedisTarget, opts: RedisLinkOptions): Promise<RedisLink> {
    const link = new RedisLink(target, opts);
    try {
      await link.client.connect();
    } catch (e) {
      const h = link.health;
      const failure = h.failure ?? new ClusterError(`cannot reach Redis at ${target.display} (${link.redact(h.lastReason || (e as Error).message)}); is redis-server running there, and is the URL right?`);
      link.closing = true;
      for (const c of link.clients) c.disconnect();
      throw failure;
    }
    return link;
  }

  /** Set once the link has given up; every later command fails with it. */
  get failure(): ClusterError | undefined {
    return this.health.failure;
  }

  /** False while Redis is away (being tried again) and after the link gave up. */
  get reachable(): boolean {
    return this.health.reachable;
  }

  /** Calls `f` when the link gives up (at once if it has); returns a function that removes it. */
  onFailure(f: (e: ClusterError) => void): () => void {
    return this.health.onFailure(f);
  }

  /** The error to report for a failed command: the link's own once it has given up (a flushed command only says the connection closed). */
  explain(e: unknown): unknown {
    return this.health.failure ?? e;
  }

  redact(text: string): string {
    return redactTarget(text, this.target);
  }

  /** Every key matching `pattern` (SCAN, so the server is never blocked). */
  async keysMatching(pattern: string): Promise<string[]> {
    const out = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      for (const k of keys) out.add(k);
      cursor = next;
    } while (cursor !== '0');
    return [...out];
  }

  /** Closes every connection; politely (QUIT) where Redis answers, at once where it does not. */
  async close(): Promise<void> {
    this.closing = true;
    this.health.stop();
    await Promise.all(
      [...this.clients].map(async (c) => {
        if (c.status !== 'ready') return c.disconnect();
        const timer = setTimeout(() => c.disconnect(), 1000);
        await c.quit().catch(() => c.disconnect());
        clearTimeout(timer);
      }),
    );
  }

  private make(name: string, first: boolean, override: Partial<RedisOptions> = {}): Redis {
    let everReady = false;
    const client = redisClient(this.target, {
      name,
      override,
      connectTimeoutMs: this.opts.connectTimeoutMs ?? 3000,
      retryStrategy: (times) => this.retryDelay(times, first && !everReady),
    });
    // BullMQ duplicates a connection for each blocking consumer: its copies belong to this link too
    client.duplicate = (o?: Partial<RedisOptions>) => this.make(o?.connectionName ?? name, false, o);
    this.clients.add(client);
    client.on('error', (e: Error) => this.health.noteError(e));
    client.on('ready', () => {
      everReady = true;
      // restored once every connection that was trying is back
      if ([...this.clients].every((c) => c.status === 'ready' || c.status === 'wait' || c.status === 'end')) this.health.noteUp();
    });
    client.on('end', () => this.clients.delete(client));
    return client;
  }

  /** ioredis asks this after a connection dropped or failed: wait this long, or (null) give the connection up. */
  private retryDelay(times: number, failFast: boolean): number | null {
    if (this.health.failure || this.closing || failFast) return null;
    this.health.noteDown();
    return Math.min(50 * 2 ** times, 1000);
  }
}

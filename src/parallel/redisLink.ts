/**
 * The ioredis connections of one coordinator or worker, sharing one view of whether Redis can be
 * reached. ioredis reconnects each connection by itself, forever by default; a link bounds that:
 * the first connection fails at once (a wrong URL should say so, not retry), a refused login or a
 * missing database fails at once (retrying cannot fix a password), and a server lost mid-run is
 * said once, tried again for `reconnectTimeoutMs`, and then given up with one ClusterError that
 * every waiting command and caller receives.
 */
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import { OptionError } from '../errors.js';
import { ClusterError } from './errors.js';
import { redactTarget, type RedisTarget } from './redisUrl.js';

/**
 * ioredis's disconnect() between two reconnection attempts cancels the next attempt but never
 * ends the connection (there is no socket to close), so whoever waits for 'end' (BullMQ's close,
 * for one) waits for ever while Redis is away. This ends it as a closed socket would have.
 */
function endWhileReconnecting(client: Redis): void {
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect = false) => {
    const stranded = !reconnect && client.status === 'reconnecting';
    disconnect(reconnect);
    if (stranded && client.status === 'reconnecting') {
      const internals = client as unknown as { setStatus(s: string): void; flushQueue(e: Error): void };
      internals.setStatus('end');
      internals.flushQueue(new Error('Connection is closed.'));
    }
  };
}

/** What a link says about Redis, once per outage. */
export type LinkEvent =
  | { type: 'redis-unreachable'; url: string; reason: string; retryForMs: number }
  | { type: 'redis-restored'; url: string; downMs: number };

const seconds = (ms: number) => Math.round(ms / 100) / 10;

/** The line to show a user for a link event (the URL in it has no password). */
export function describeLinkEvent(e: LinkEvent): string {
  return e.type === 'redis-unreachable'
    ? `Redis at ${e.url} does not answer (${e.reason}); trying again for ${seconds(e.retryForMs)} s`
    : `Redis at ${e.url} answers again (away ${(e.downMs / 1000).toFixed(1)} s)`;
}

export interface RedisLinkOptions {
  /** the connection name Redis shows in CLIENT LIST */
  name: string;
  /** how long one connection attempt may take (default 3 s) */
  connectTimeoutMs?: number;
  /** after losing Redis, how long to keep trying before giving up (default 60 s) */
  reconnectTimeoutMs?: number;
  onEvent?: (e: LinkEvent) => void;
}

export const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;

const LOGIN_REFUSED = /NOAUTH|WRONGPASS|invalid password|invalid username-password/i;
const NO_DATABASE = /DB index is out of range|invalid DB index/i;

export class RedisLink {
  /** the connection for the owner's own commands (BullMQ duplicates it for its blocking ones) */
  readonly client: Redis;
  private readonly clients = new Set<Redis>();
  private readonly failureListeners = new Set<(e: ClusterError) => void>();
  private readonly reconnectTimeoutMs: number;
  private downSince: number | undefined;
  private giveUpTimer: NodeJS.Timeout | undefined;
  private lastReason = 'the connection closed';
  private fatal: ClusterError | undefined;
  private closing = false;

  private constructor(
    readonly target: RedisTarget,
    private readonly opts: RedisLinkOptions,
  ) {
    this.reconnectTimeoutMs = opts.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
    if (!(this.reconnectTimeoutMs >= 0)) throw new OptionError(`reconnectTimeoutMs must be a number of milliseconds of at least 0, got ${this.reconnectTimeoutMs}`);
    this.client = this.make(opts.name, true);
  }

  /** Connects; a ClusterError naming the server (never the password) when it cannot. */
  static async open(target: RedisTarget, opts: RedisLinkOptions): Promise<RedisLink> {
    const link = new RedisLink(target, opts);
    try {
      await link.client.connect();
    } catch (e) {
      const failure = link.fatal ?? new ClusterError(`cannot reach Redis at ${target.display} (${link.redact(link.lastReason || (e as Error).message)}); is redis-server running there, and is the URL right?`);
      link.closing = true;
      for (const c of link.clients) c.disconnect();
      throw failure;
    }
    return link;
  }

  /** Set once the link has given up; every later command fails with it. */
  get failure(): ClusterError | undefined {
    return this.fatal;
  }

  /** False while Redis is away (being tried again) and after the link gave up. */
  get reachable(): boolean {
    return this.downSince === undefined && this.fatal === undefined;
  }

  /** Calls `f` when the link gives up (at once if it has); returns a function that removes it. */
  onFailure(f: (e: ClusterError) => void): () => void {
    if (this.fatal) {
      f(this.fatal);
      return () => undefined;
    }
    this.failureListeners.add(f);
    return () => this.failureListeners.delete(f);
  }

  /** The error to report for a failed command: the link's own once it has given up (a flushed command only says the connection closed). */
  explain(e: unknown): unknown {
    return this.fatal ?? e;
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
    clearTimeout(this.giveUpTimer);
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
    const t = this.target;
    let everReady = false;
    const client = new Redis({
      host: t.host,
      port: t.port,
      db: t.db,
      ...(t.username !== undefined ? { username: t.username } : {}),
      ...(t.password !== undefined ? { password: t.password } : {}),
      ...(t.tls ? { tls: isIP(t.host) ? {} : { servername: t.host } } : {}),
      ...override,
      connectionName: override.connectionName ?? name,
      lazyConnect: true,
      // BullMQ's blocking commands need commands to wait for a reconnection, not fail after a few
      // tries; the link bounds that wait instead
      maxRetriesPerRequest: null,
      connectTimeout: this.opts.connectTimeoutMs ?? 3000,
      retryStrategy: (times: number) => this.retryDelay(times, first && !everReady),
    });
    // BullMQ duplicates a connection for each blocking consumer: its copies belong to this link too
    client.duplicate = (o?: Partial<RedisOptions>) => this.make(o?.connectionName ?? name, false, o);
    endWhileReconnecting(client);
    this.clients.add(client);
    client.on('error', (e: Error) => this.noteError(e));
    client.on('ready', () => {
      everReady = true;
      this.noteReady();
    });
    client.on('end', () => this.clients.delete(client));
    return client;
  }

  /** ioredis asks this after a connection dropped or failed: wait this long, or (null) give the connection up. */
  private retryDelay(times: number, failFast: boolean): number | null {
    if (this.fatal || this.closing || failFast) return null;
    this.noteDown();
    return Math.min(50 * 2 ** times, 1000);
  }

  private noteError(e: Error): void {
    this.lastReason = this.redact(e.message);
    if (LOGIN_REFUSED.test(e.message)) {
      const how = this.target.password === undefined ? 'it needs a password: put it in the URL, redis://:PASSWORD@HOST:PORT' : 'check the user and password in the URL';
      this.giveUp(new ClusterError(`Redis at ${this.target.display} refused the login (${this.lastReason}); ${how}`));
    } else if (NO_DATABASE.test(e.message)) {
      this.giveUp(new ClusterError(`Redis at ${this.target.display} has no database ${this.target.db} (${this.lastReason}); name one it has, e.g. redis://HOST:PORT/0`));
    }
  }

  private noteDown(): void {
    if (this.downSince !== undefined) return;
    this.downSince = Date.now();
    this.emit({ type: 'redis-unreachable', url: this.target.display, reason: this.lastReason, retryForMs: this.reconnectTimeoutMs });
    this.giveUpTimer = setTimeout(() => {
      this.giveUp(new ClusterError(`lost Redis at ${this.target.display}: no answer for ${seconds(this.reconnectTimeoutMs)} s (${this.lastReason}); start it again, or check the network, and run again`));
    }, this.reconnectTimeoutMs);
  }

  private noteReady(): void {
    if (this.downSince === undefined || this.fatal) return;
    // restored once every connection that was trying is back
    for (const c of this.clients) if (c.status !== 'ready' && c.status !== 'wait' && c.status !== 'end') return;
    clearTimeout(this.giveUpTimer);
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    this.emit({ type: 'redis-restored', url: this.target.display, downMs });
  }

  private giveUp(e: ClusterError): void {
    if (this.fatal) return;
    this.fatal = e;
    clearTimeout(this.giveUpTimer);
    // the offline queues are flushed, so every waiting command fails now instead of waiting on
    setImmediate(() => {
      for (const c of this.clients) c.disconnect();
    });
    for (const f of this.failureListeners) f(e);
    this.failureListeners.clear();
  }

  private emit(e: LinkEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch {
      // a faulty listener must not break the connections
    }
  }
}

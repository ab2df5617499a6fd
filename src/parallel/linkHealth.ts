/**
 * Whether Redis answers, as one coordinator or worker sees it over all its connections. A server
 * lost mid-run is said once, tried again for `reconnectTimeoutMs`, and then given up; a refused
 * login or a missing database is given up at once (retrying cannot fix a password). Once given up,
 * every caller waiting on the link receives the same ClusterError.
 */
import { OptionError } from '../errors.js';
import { ClusterError } from './errors.js';
import type { RedisTarget } from './redisUrl.js';

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

export const DEFAULT_RECONNECT_TIMEOUT_MS = 60_000;

const LOGIN_REFUSED = /NOAUTH|WRONGPASS|invalid password|invalid username-password/i;
const NO_DATABASE = /DB index is out of range|invalid DB index/i;

export interface LinkHealthOptions {
  target: RedisTarget;
  /** the text without the target's password */
  redact: (text: string) => string;
  reconnectTimeoutMs?: number;
  onEvent?: ((e: LinkEvent) => void) | undefined;
  /** called first when the link gives up, before those waiting on it hear */
  onGiveUp: () => void;
}

export class LinkHealth {
  readonly reconnectTimeoutMs: number;
  /** the last error a connection reported, without password */
  lastReason = 'the connection closed';
  private readonly failureListeners = new Set<(e: ClusterError) => void>();
  private downSince: number | undefined;
  private giveUpTimer: NodeJS.Timeout | undefined;
  private fatal: ClusterError | undefined;

  constructor(private readonly opts: LinkHealthOptions) {
    this.reconnectTimeoutMs = opts.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS;
    if (!(this.reconnectTimeoutMs >= 0)) throw new OptionError(`reconnectTimeoutMs must be a number of milliseconds of at least 0, got ${this.reconnectTimeoutMs}`);
  }

  /** Set once the link has given up. */
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

  /** An error a connection reported: a refused login or a missing database gives up at once. */
  noteError(e: Error): void {
    const t = this.opts.target;
    this.lastReason = this.opts.redact(e.message);
    if (LOGIN_REFUSED.test(e.message)) {
      const how = t.password === undefined ? 'it needs a password: put it in the URL, redis://:PASSWORD@HOST:PORT' : 'check the user and password in the URL';
      this.giveUp(new ClusterError(`Redis at ${t.display} refused the login (${this.lastReason}); ${how}`));
    } else if (NO_DATABASE.test(e.message)) {
      this.giveUp(new ClusterError(`Redis at ${t.display} has no database ${t.db} (${this.lastReason}); name one it has, e.g. redis://HOST:PORT/0`));
    }
  }

  /** A connection is being tried again: the first of an outage says so and starts the time limit. */
  noteDown(): void {
    if (this.downSince !== undefined) return;
    const url = this.opts.target.display;
    this.downSince = Date.now();
    this.emit({ type: 'redis-unreachable', url, reason: this.lastReason, retryForMs: this.reconnectTimeoutMs });
    this.giveUpTimer = setTimeout(() => {
      this.giveUp(new ClusterError(`lost Redis at ${url}: no answer for ${seconds(this.reconnectTimeoutMs)} s (${this.lastReason}); start it again, or check the network, and run again`));
    }, this.reconnectTimeoutMs);
  }

  /** Every connection that was being tried is back. */
  noteUp(): void {
    if (this.downSince === undefined || this.fatal) return;
    clearTimeout(this.giveUpTimer);
    const downMs = Date.now() - this.downSince;
    this.downSince = undefined;
    this.emit({ type: 'redis-restored', url: this.opts.target.display, downMs });
  }

  /** The link is closing: no time limit runs on. */
  stop(): void {
    clearTimeout(this.giveUpTimer);
  }

  private giveUp(e: ClusterError): void {
    if (this.fatal) return;
    this.fatal = e;
    clearTimeout(this.giveUpTimer);
    this.opts.onGiveUp();
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

/** One ioredis connection to a target, with the settings every connection of a link shares. */
import { isIP } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './redisUrl.js';

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

export interface ClientSettings {
  name: string;
  connectTimeoutMs: number;
  /** ioredis asks this after a connection dropped or failed: wait this long, or (null) give the connection up */
  retryStrategy: (times: number) => number | null;
  override?: Partial<RedisOptions>;
}

/** A connection not yet connected (lazy), whose disconnect() always ends it. */
export function redisClient(t: RedisTarget, s: ClientSettings): Redis {
  const override = s.override ?? {};
  const client = new Redis({
    host: t.host,
    port: t.port,
    db: t.db,
    ...(t.username !== undefined ? { username: t.username } : {}),
    ...(t.password !== undefined ? { password: t.password } : {}),
    ...(t.tls ? { tls: isIP(t.host) ? {} : { servername: t.host } } : {}),
    ...override,
    connectionName: override.connectionName ?? s.name,
    lazyConnect: true,
    // BullMQ's blocking commands need commands to wait for a reconnection, not fail after a few
    // tries; the link bounds that wait instead
    maxRetriesPerRequest: null,
    connectTimeout: s.connectTimeoutMs,
    retryStrategy: s.retryStrategy,
  });
  endWhileReconnecting(client);
  return client;
}

import { OptionError } from '../errors.js';

/** Where a Redis server is and how to log in; built from a redis:// or rediss:// URL. */
export interface RedisTarget {
  host: string;
  port: number;
  tls: boolean;
  username?: string;
  password?: string;
  db: number;
  /** the URL with its password replaced by ***, safe to print */
  display: string;
}

/** Replaces the password of every URL in `text` (any scheme: redis://, rediss://, https://, ...) by ***, keeping the user name. */
export function redactCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^@\s/]*)@/gi, (_m, scheme: string, cred: string) => {
    const user = cred.includes(':') ? cred.slice(0, cred.indexOf(':')) : '';
    return `${scheme}${user ? `${user}:` : ''}***@`;
  });
}

/**
 * Parses a Redis URL: redis://[user[:password]@]host[:port][/db] or rediss:// for TLS (the
 * server's certificate is checked against the system's CAs and NODE_EXTRA_CA_CERTS).
 */
export function parseRedisUrl(url: string): RedisTarget {
  const shown = redactCredentials(url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OptionError(`'${shown}' is not a Redis URL; write redis://HOST:PORT or rediss://USER:PASSWORD@HOST:PORT`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new OptionError(`'${shown}' is not a Redis URL (scheme ${u.protocol}); write redis://HOST:PORT, or rediss:// for TLS`);
  }
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new OptionError(`the Redis URL '${shown}' names no host`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) throw new OptionError(`the Redis URL '${shown}' names database '${dbText}'; use a number, e.g. redis://HOST:PORT/0`);
  const target: RedisTarget = { host, port, tls: u.protocol === 'rediss:', db, display: shown };
  if (u.username) target.username = decodeURIComponent(u.username);
  if (u.password) target.password = decodeURIComponent(u.password);
  return target;
}

/** Removes a target's password from a message, wherever it appears (an echoed command, a URL). */
export function redactTarget(text: string, target: RedisTarget): string {
  let out = redactCredentials(text);
  if (target.password) out = out.split(target.password).join('***');
  return out;
}

/**
 * The Redis URL to use: the one given, else HESSE_REDIS_URL (which keeps a password out of
 * process lists). `flag` names where the caller takes it from (a CLI flag), for the message.
 */
export function resolveRedisUrl(explicit?: string, flag?: string): string {
  const url = explicit || process.env.HESSE_REDIS_URL;
  if (!url) {
    const how = flag ? `give it with ${flag} redis://HOST:PORT or` : 'give one, e.g. redis://HOST:PORT, or';
    throw new OptionError(`no Redis URL: ${how} set HESSE_REDIS_URL (redis://:PASSWORD@HOST:PORT when the server has a password)`);
  }
  parseRedisUrl(url);
  return url;
}

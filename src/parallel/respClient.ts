/**
 * A small Redis client (RESP2 over TCP or TLS) that implements BullMQ's IRedisClient, so BullMQ
 * runs without ioredis, and that moves binary values (vectors, weights) without text conversion.
 * It pipelines commands on one connection, reconnects after a dropped connection, and never
 * puts the password in a message.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { ConnectionClosedError, type IRedisClient, type IRedisTransaction } from 'bullmq';
import { asText, encodeCommand, RespError, RespParser, type RespValue } from './respParser.js';
import { redactTarget, type RedisTarget } from './redisUrl.js';

export type RespArg = string | number | Buffer | Uint8Array;

export interface RespOptions {
  /** CLIENT SETNAME after connecting */
  name?: string;
  /** give up connecting after this long (default 5 s) */
  connectTimeoutMs?: number;
  /** reconnect after the connection drops (default true) */
  reconnect?: boolean;
}

interface Pending {
  resolve(v: RespValue): void;
  reject(e: Error): void;
}

interface Script {
  sha: string;
  lua: string;
  numberOfKeys: number;
}

type Status = 'wait' | 'connecting' | 'connect' | 'ready' | 'reconnecting' | 'end';

function hgetallObject(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(v)) for (let i = 0; i + 1 < v.length; i += 2) out[String(v[i])] = String(v[i + 1]);
  return out;
}

function scriptArgs(args: unknown[]): unknown[] {
  return args.length === 1 && Array.isArray(args[0]) ? (args[0] as unknown[]) : args;
}

function toArg(a: unknown): RespArg {
  if (Buffer.isBuffer(a) || a instanceof Uint8Array) return a;
  if (a === undefined || a === null) return '';
  return typeof a === 'number' ? a : String(a);
}

export class RespClient extends EventEmitter implements IRedisClient {
  private state: Status = 'wait';
  readonly isCluster = false;
  options: Record<string, unknown> = {};
  private socket: Socket | undefined;
  private readonly parser = new RespParser();
  private pending: Pending[] = [];
  /** commands issued before the connection was ready, sent in order once it is */
  private offline: { parts: Buffer[][]; pending: Pending[] }[] = [];
  private scripts = new Map<string, Script>();
  private loadedShas = new Set<string>();
  private connecting: Promise<void> | undefined;
  private closing = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempts = 0;

  constructor(
    readonly target: RedisTarget,
    private readonly opts: RespOptions = {},
  ) {
    super();
  }

  get status(): string {
    return this.state;
  }

  set status(v: string) {
    // BullMQ marks a client it has closed as 'end'
    if (v === 'end') {
      this.closing = true;
      this.state = 'end';
    }
  }

  private fail(message: string): Error {
    return new Error(redactTarget(message, this.target));
  }

  // ---------------------------------------------------------------- connection

  connect(): Promise<void> {
    if (this.state === 'ready') return Promise.resolve();
    if (this.connecting) return this.connecting;
    this.closing = false;
    this.state = 'connecting';
    const p = this.open().finally(() => {
      if (this.connecting === p) this.connecting = undefined;
    });
    this.connecting = p;
    return p;
  }

  private async open(): Promise<void> {
    const { host, port, tls } = this.target;
    const timeoutMs = this.opts.connectTimeoutMs ?? 5000;
    let socket: Socket;
    try {
      socket = await new Promise<Socket>((resolve, reject) => {
        const s = tls ? tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }) }) : netConnect({ host, port });
        const timer = setTimeout(() => {
          s.destroy();
          reject(this.fail(`connecting to ${this.target.display} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        s.once(tls ? 'secureConnect' : 'connect', () => {
          clearTimeout(timer);
          s.removeAllListeners('error');
          resolve(s);
        });
        s.once('error', (e) => {
          clearTimeout(timer);
          s.destroy();
          reject(this.fail(`cannot reach Redis at ${this.target.display}: ${e.message}`));
        });
      });
    } catch (e) {
      this.afterFailedConnect(e as Error);
      throw e;
    }
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 30_000);
    this.socket = socket;
    this.parser.reset();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (e) => this.emitError(this.fail(`Redis connection to ${this.target.display}: ${e.message}`)));
    socket.on('close', () => this.onClose(socket));
    this.state = 'connect';
    try {
      const { username, password, db } = this.target;
      if (password !== undefined) await this.direct(username ? ['AUTH', username, password] : ['AUTH', password]);
      if (db) await this.direct(['SELECT', db]);
      if (this.opts.name) await this.direct(['CLIENT', 'SETNAME', this.opts.name]).catch(() => undefined);
    } catch (e) {
      const err = this.fail(`Redis at ${this.target.display} refused the login: ${(e as Error).message}`);
      this.closing = true;
      socket.destroy();
      throw err;
    }
    this.state = 'ready';
    this.attempts = 0;
    this.loadedShas.clear();
    for (const group of this.offline.splice(0)) this.write(group.parts, group.pending);
    this.emit('connect');
    this.emit('ready');
  }

  private afterFailedConnect(e: Error): void {
    this.emitError(e);
    if (this.closing || this.opts.reconnect === false) {
      this.state = 'end';
      this.rejectOffline(e);
      this.emit('end');
    } else {
      this.scheduleReconnect();
    }
  }

  private emitError(e: Error): void {
    // like ioredis: an error nobody listens to is not thrown into the event loop
    if (this.listenerCount('error') > 0) this.emit('error', e);
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.closing) return;
    this.state = 'reconnecting';
    const delay = Math.min(100 * 2 ** this.attempts++, 2000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closing) return;
      this.connect().catch(() => undefined);
    }, delay);
  }

  private onClose(socket: Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    const err = new ConnectionClosedError();
    for (const p of this.pending.splice(0)) p.reject(err);
    this.parser.reset();
    this.emit('close');
    if (this.closing || this.opts.reconnect === false) {
      this.state = 'end';
      this.rejectOffline(err);
      this.emit('end');
    } else {
      this.scheduleReconnect();
    }
  }

  private rejectOffline(e: Error): void {
    for (const g of this.offline.splice(0)) for (const p of g.pending) p.reject(e);
  }

  disconnect(reconnect?: boolean): void {
    if (reconnect) {
      this.socket?.destroy();
      return;
    }
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.socket) this.socket.destroy();
    else if (this.state !== 'end') {
      this.state = 'end';
      this.rejectOffline(new ConnectionClosedError());
      process.nextTick(() => {
        this.emit('close');
        this.emit('end');
      });
    }
  }

  async quit(): Promise<string> {
    if (this.state === 'ready' && this.socket) {
      const socket = this.socket;
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      const reply = this.send(['QUIT']).catch(() => 'OK');
      this.closing = true;
      await Promise.race([reply, new Promise((r) => setTimeout(r, 1000))]);
      socket.end();
      const timer = setTimeout(() => socket.destroy(), 1000);
      await closed;
      clearTimeout(timer);
      return 'OK';
    }
    this.disconnect();
    return 'OK';
  }

  duplicate(...args: unknown[]): RespClient {
    const o = args[0] as { connectionName?: string } | undefined;
    const name = o?.connectionName ?? this.opts.name;
    const c = new RespClient(this.target, { ...this.opts, ...(name ? { name } : {}) });
    for (const [n, s] of this.scripts) c.defineCommand(n, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    return c;
  }

  // ---------------------------------------------------------------- wire

  private onData(chunk: Buffer): void {
    let replies: RespValue[];
    try {
      replies = this.parser.push(chunk);
    } catch (e) {
      this.emitError(e as Error);
      this.socket?.destroy();
      return;
    }
    for (const r of replies) {
      const p = this.pending.shift();
      if (!p) continue;
      if (r instanceof RespError) p.reject(r);
      else p.resolve(r);
    }
  }

  private write(parts: Buffer[][], pending: Pending[]): void {
    const s = this.socket!;
    s.cork();
    for (const cmd of parts) for (const b of cmd) s.write(b);
    s.uncork();
    this.pending.push(...pending);
  }

  /** Sends commands back to back (nothing else can come between them); one promise per command. */
  private sendGroup(commands: readonly (readonly RespArg[])[]): Promise<RespValue>[] {
    const pending: Pending[] = [];
    const promises = commands.map((_, i) => new Promise<RespValue>((resolve, reject) => (pending[i] = { resolve, reject })));
    if (this.state === 'end' || (this.closing && this.state !== 'ready')) {
      const e = new ConnectionClosedError();
      pending.forEach((p) => p.reject(e));
      return promises;
    }
    const parts = commands.map((c) => encodeCommand(c));
    if (this.state === 'ready' && this.socket) this.write(parts, pending);
    else {
      this.offline.push({ parts, pending });
      if (this.state === 'wait') this.connect().catch(() => undefined);
    }
    return promises;
  }

  /** During the handshake, before queued commands may go. */
  private direct(args: readonly RespArg[]): Promise<RespValue> {
    return new Promise((resolve, reject) => this.write([encodeCommand(args)], [{ resolve, reject }]));
  }

  /** One command; the raw reply (bulk strings as Buffers). */
  send(args: readonly RespArg[]): Promise<RespValue> {
    return this.sendGroup([args])[0]!;
  }

  /** One command; bulk strings as text. */
  async call(...args: RespArg[]): Promise<any> {
    return asText(await this.send(args));
  }

  /** One command; bulk strings as bytes (GET of a vector, say). */
  callBuffer(...args: RespArg[]): Promise<RespValue> {
    return this.send(args);
  }

  // ---------------------------------------------------------------- scripts

  defineCommand(name: string, definition: { numberOfKeys: number; lua: string; readOnly?: boolean }): void {
    const sha = createHash('sha1').update(definition.lua).digest('hex');
    this.scripts.set(name, { sha, lua: definition.lua, numberOfKeys: definition.numberOfKeys });
    (this as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => this.runCommand(name, a);
  }

  private scriptCall(name: string, args: unknown[]): { script: Script; tail: RespArg[] } {
    const script = this.scripts.get(name);
    if (!script) throw new Error(`BullMQ: unknown command "${name}"`);
    const all = scriptArgs(args);
    const keys = all.slice(0, script.numberOfKeys).map((k) => String(k));
    return { script, tail: [String(keys.length), ...keys, ...all.slice(script.numberOfKeys).map(toArg)] };
  }

  async runCommand(name: string, args: any[]): Promise<any> {
    const { script, tail } = this.scriptCall(name, args);
    try {
      return asText(await this.send(['EVALSHA', script.sha, ...tail]));
    } catch (e) {
      if (e instanceof RespError && e.message.includes('NOSCRIPT')) return asText(await this.send(['EVAL', script.lua, ...tail]));
      throw e;
    }
  }

  async ensureScripts(shas: readonly Script[]): Promise<void> {
    const todo = shas.filter((s, i) => !this.loadedShas.has(s.sha) && shas.findIndex((t) => t.sha === s.sha) === i);
    await Promise.all(todo.map((s) => this.send(['SCRIPT', 'LOAD', s.lua]).then(() => this.loadedShas.add(s.sha))));
  }

  scriptFor(name: string, args: unknown[]) {
    return this.scriptCall(name, args);
  }

  multi(): IRedisTransaction {
    return new RespBatch(this, true);
  }

  pipeline(): IRedisTransaction {
    return new RespBatch(this, false);
  }

  /** Runs a batch: MULTI ... EXEC when transactional, else a plain pipeline. */
  async runBatch(commands: RespArg[][], transactional: boolean): Promise<{ ok: boolean; replies: RespValue[] } | null> {
    if (!transactional) {
      const settled = await Promise.allSettled(this.sendGroup(commands));
      return { ok: true, replies: settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason instanceof Error ? (s.reason as RespError) : new RespError(String(s.reason))))) };
    }
    const all = this.sendGroup([['MULTI'], ...commands, ['EXEC']]);
    all.slice(0, -1).forEach((p) => p.catch(() => undefined));
    const exec = await all[all.length - 1]!;
    if (exec === null) return null;
    return { ok: true, replies: exec as RespValue[] };
  }

  // ---------------------------------------------------------------- commands BullMQ uses

  async hgetall(key: string): Promise<Record<string, string>> {
    return hgetallObject(await this.call('HGETALL', key));
  }
  hget(key: string, field: string): Promise<string | null> {
    return this.call('HGET', key, field);
  }
  hmget(key: string, ...fields: string[]): Promise<(string | null)[]> {
    return this.call('HMGET', key, ...fields);
  }
  hset(key: string, data: Record<string, string | number> | string, ...rest: (string | number)[]): Promise<number> {
    const args: RespArg[] = ['HSET', key];
    if (typeof data === 'object') for (const [k, v] of Object.entries(data)) args.push(k, String(v));
    else args.push(data, ...rest.map(String));
    return this.call(...args);
  }
  hdel(key: string, ...fields: string[]): Promise<number> {
    return this.call('HDEL', key, ...fields);
  }
  hexists(key: string, field: string): Promise<number> {
    return this.call('HEXISTS', key, field);
  }
  get(key: string): Promise<string | null> {
    return this.call('GET', key);
  }
  set(key: string, value: string | number | Buffer, options?: { PX?: number; EX?: number }): Promise<string | null> {
    const args: RespArg[] = ['SET', key, value];
    if (options?.PX != null) args.push('PX', options.PX);
    else if (options?.EX != null) args.push('EX', options.EX);
    return this.call(...args);
  }
  del(...keys: string[]): Promise<number> {
    return keys.length ? this.call('DEL', ...keys) : Promise.resolve(0);
  }
  zrange(key: string, start: number, end: number, options?: { WITHSCORES?: boolean }): Promise<string[]> {
    return this.call('ZRANGE', key, start, end, ...(options?.WITHSCORES ? ['WITHSCORES'] : []));
  }
  zrevrange(key: string, start: number, end: number, options?: { WITHSCORES?: boolean }): Promise<string[]> {
    return this.call('ZREVRANGE', key, start, end, ...(options?.WITHSCORES ? ['WITHSCORES'] : []));
  }
  zcard(key: string): Promise<number> {
    return this.call('ZCARD', key);
  }
  zscore(key: string, member: string): Promise<string | null> {
    return this.call('ZSCORE', key, member);
  }
  lrange(key: string, start: number, end: number): Promise<string[]> {
    return this.call('LRANGE', key, start, end);
  }
  llen(key: string): Promise<number> {
    return this.call('LLEN', key);
  }
  ltrim(key: string, start: number, end: number): Promise<string> {
    return this.call('LTRIM', key, start, end);
  }
  lpos(key: string, value: string): Promise<number | null> {
    return this.call('LPOS', key, value);
  }
  smembers(key: string): Promise<string[]> {
    return this.call('SMEMBERS', key);
  }
  xadd(key: string, id: string, fields: Record<string, string | number>, options?: { MAXLEN?: number; approximate?: boolean }): Promise<string> {
    const args: RespArg[] = ['XADD', key];
    if (options?.MAXLEN != null) args.push('MAXLEN', ...(options.approximate !== false ? ['~'] : []), options.MAXLEN);
    args.push(id);
    for (const [k, v] of Object.entries(fields)) args.push(k, String(v));
    return this.call(...args);
  }
  async xread(streams: { key: string; id: string }[], options?: { BLOCK?: number; COUNT?: number }): Promise<any> {
    const args: RespArg[] = ['XREAD'];
    if (options?.COUNT != null) args.push('COUNT', options.COUNT);
    if (options?.BLOCK != null) args.push('BLOCK', options.BLOCK);
    args.push('STREAMS', ...streams.map((s) => s.key), ...streams.map((s) => s.id));
    try {
      return await this.call(...args);
    } catch (e) {
      if (this.closing) return null;
      throw e;
    }
  }
  xtrim(key: string, strategy: 'MAXLEN', threshold: number, options?: { approximate?: boolean }): Promise<number> {
    return this.call('XTRIM', key, strategy, ...(options?.approximate !== false ? ['~'] : []), threshold);
  }
  async bzpopmin(key: string, timeout: number): Promise<[key: string, member: string, score: string] | null> {
    try {
      const r = (await this.call('BZPOPMIN', key, timeout)) as string[] | null;
      return r && r.length >= 3 ? [r[0]!, r[1]!, r[2]!] : null;
    } catch (e) {
      if (this.closing) return null;
      throw e;
    }
  }
  info(): Promise<string> {
    return this.call('INFO');
  }
  clientSetName(name: string): Promise<any> {
    return this.call('CLIENT', 'SETNAME', name);
  }
  clientList(): Promise<string> {
    return this.call('CLIENT', 'LIST');
  }
  clientInfo(): Promise<string> {
    return this.call('CLIENT', 'INFO');
  }
  client(...args: RespArg[]): Promise<any> {
    return this.call('CLIENT', ...args);
  }
  async scan(cursor: string | number, options: { MATCH?: string; COUNT?: number }): Promise<[string, string[]]> {
    const args: RespArg[] = ['SCAN', String(cursor)];
    if (options.MATCH) args.push('MATCH', options.MATCH);
    if (options.COUNT) args.push('COUNT', options.COUNT);
    const r = (await this.call(...args)) as [string, string[]];
    return [String(r[0]), r[1] ?? []];
  }
  scanStream(options: { match: string; count?: number }): Readable {
    let cursor = '0';
    let started = false;
    const stream: Readable = new Readable({
      objectMode: true,
      read: () => {
        if (started && cursor === '0') {
          stream.push(null);
          return;
        }
        started = true;
        const step = (): void => {
          this.scan(cursor, { MATCH: options.match, ...(options.count ? { COUNT: options.count } : {}) }).then(
            ([next, keys]) => {
              cursor = next;
              if (keys.length > 0) {
                stream.push(keys);
                if (cursor === '0') stream.push(null);
              } else if (cursor === '0') stream.push(null);
              else step();
            },
            (e: Error) => stream.destroy(e),
          );
        };
        step();
      },
    });
    return stream;
  }

  /** Every key matching `pattern` (SCAN, so the server is never blocked). */
  async keysMatching(pattern: string): Promise<string[]> {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.scan(cursor, { MATCH: pattern, COUNT: 500 });
      out.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return [...new Set(out)];
  }

  // the few further commands BullMQ's internals reach for
  exists(...keys: string[]): Promise<number> {
    return this.call('EXISTS', ...keys);
  }
  keys(pattern: string): Promise<string[]> {
    return this.call('KEYS', pattern);
  }
  zadd(key: string, ...args: (string | number)[]): Promise<number> {
    return this.call('ZADD', key, ...args);
  }
  zrem(key: string, ...members: string[]): Promise<number> {
    return this.call('ZREM', key, ...members);
  }
  xlen(key: string): Promise<number> {
    return this.call('XLEN', key);
  }
  xrevrange(key: string, end: string, start: string, ...rest: (string | number)[]): Promise<any> {
    return this.call('XREVRANGE', key, end, start, ...rest);
  }
  sadd(key: string, ...members: (string | number)[]): Promise<number> {
    return this.call('SADD', key, ...members);
  }
  scard(key: string): Promise<number> {
    return this.call('SCARD', key);
  }
  lpush(key: string, ...values: string[]): Promise<number> {
    return this.call('LPUSH', key, ...values);
  }
  rpop(key: string): Promise<string | null> {
    return this.call('RPOP', key);
  }
  incr(key: string): Promise<number> {
    return this.call('INCR', key);
  }
  incrby(key: string, n: number): Promise<number> {
    return this.call('INCRBY', key, n);
  }
  pexpire(key: string, ms: number): Promise<number> {
    return this.call('PEXPIRE', key, ms);
  }
}

/** MULTI/EXEC or a pipeline: commands queued, then sent back to back. */
class RespBatch implements IRedisTransaction {
  private readonly commands: RespArg[][] = [];
  private readonly transforms: ((v: unknown) => unknown)[] = [];
  private readonly scripts: Script[] = [];

  constructor(
    private readonly client: RespClient,
    private readonly transactional: boolean,
  ) {}

  private add(args: RespArg[], transform: (v: unknown) => unknown = (v) => v): this {
    this.commands.push(args);
    this.transforms.push(transform);
    return this;
  }

  hgetall(key: string): this {
    return this.add(['HGETALL', key], hgetallObject);
  }
  hset(key: string, data: Record<string, string | number>): this {
    const args: RespArg[] = ['HSET', key];
    for (const [k, v] of Object.entries(data)) args.push(k, String(v));
    return this.add(args);
  }
  hscan(key: string, cursor: string | number, options?: { COUNT?: number }): this {
    return this.add(['HSCAN', key, String(cursor), ...(options?.COUNT != null ? ['COUNT', options.COUNT] : [])]);
  }
  smembers(key: string): this {
    return this.add(['SMEMBERS', key]);
  }
  sscan(key: string, cursor: string | number, options?: { COUNT?: number }): this {
    return this.add(['SSCAN', key, String(cursor), ...(options?.COUNT != null ? ['COUNT', options.COUNT] : [])]);
  }
  zrange(key: string, start: number, end: number): this {
    return this.add(['ZRANGE', key, start, end]);
  }
  lrange(key: string, start: number, end: number): this {
    return this.add(['LRANGE', key, start, end]);
  }
  llen(key: string): this {
    return this.add(['LLEN', key]);
  }
  del(...keys: string[]): this {
    return keys.length ? this.add(['DEL', ...keys]) : this;
  }
  runCommand(name: string, args: any[]): this {
    const { script, tail } = this.client.scriptFor(name, args);
    this.scripts.push(script);
    return this.add(['EVALSHA', script.sha, ...tail]);
  }

  async exec(): Promise<[Error | null, any][] | null> {
    if (this.commands.length === 0) return [];
    // EVALSHA inside MULTI cannot fall back to EVAL, so the scripts go to the server first
    if (this.scripts.length) await this.client.ensureScripts(this.scripts);
    const r = await this.client.runBatch(this.commands, this.transactional);
    if (!r) return null;
    return r.replies.map((v, i) => (v instanceof Error ? [v, null] : [null, this.transforms[i]!(asText(v))]));
  }
}

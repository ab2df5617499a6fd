/**
 * What the cluster tests share: small models and image sets, Redis clients for looking at a run's
 * keys, `hesse worker` processes, private redis-server instances (for the tests that stop Redis
 * or need a password; the shared server on 6379 is never stopped) and a TCP proxy that can cut
 * the connections to one, as a network outage would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { ImageDataset } from '../../src/data/index.js';
import { resnet, type Model } from '../../src/nn/index.js';
import { RunKeys, type WorkerEvent } from '../../src/parallel/index.js';
import { Rng } from '../../src/tensor/index.js';
import { cliPath } from '../cli/run.js';

export const SHARED_URL = 'redis://127.0.0.1:6379';
export const redisRequired = process.env.HESSE_REQUIRE_REDIS === '1';

export function smallImages(n: number, seed: number, side = 8): ImageDataset {
  const rng = new Rng(seed);
  const pixels = Uint8Array.from({ length: n * 3 * side * side }, () => rng.int(256));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  return new ImageDataset({ name: 'small', pixels, labels, channels: 3, height: side, width: side, classes: 4 });
}

export function tinyResNet(seed: number): Model {
  const m = resnet({ depth: 8, width: 4, classes: 4, seed });
  for (const [name, t] of m.buffers) t.data.fill(name.endsWith('running_var') ? 1.2 : 0.02);
  return m;
}

export function randomVector(n: number, seed: number): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(n)) as Float32Array;
}

/** ||a - b|| / ||b|| in float64. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `f()` holds, polling; fails after `ms` (generous: the machine may be loaded). */
export async function eventually(f: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

export async function redisAnswers(url: string): Promise<boolean> {
  const c = new Redis(url, { lazyConnect: true, retryStrategy: () => null, connectTimeout: 1000, maxRetriesPerRequest: 0 });
  c.on('error', () => undefined);
  try {
    await c.connect();
    return (await c.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

/** Runs `f` with a plain client (errors thrown, no retries). */
export async function withRedis<T>(url: string, f: (c: Redis) => Promise<T>): Promise<T> {
  const c = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await f(c);
  } finally {
    c.disconnect();
  }
}

export async function keysOf(url: string, runName: string): Promise<string[]> {
  return withRedis(url, async (c) => {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await c.scan(cursor, 'MATCH', new RunKeys(runName).pattern, 'COUNT', 1000);
      out.push(...keys);
      cursor = next;
    } while (cursor !== '0');
    return [...new Set(out)].sort();
  });
}

export interface WorkerProcess {
  proc: ChildProcess;
  events: WorkerEvent[];
  stderr: string[];
  on(type: WorkerEvent['type'], f: (e: WorkerEvent) => void): void;
  exited: Promise<number | null>;
  alive(): boolean;
}

/** `hesse worker` as a user starts it (the built command, the URL through the environment, --json events on stdout). */
export function startWorker(opts: { url: string; run: string; root: string; lockMs?: number; stalledMs?: number; extra?: string[] }): WorkerProcess {
  const args = [cliPath, '--json', 'worker', '--run', opts.run, '--concurrency', '1', '--dataset-root', opts.root];
  args.push('--lock-ms', String(opts.lockMs ?? 2000), '--stalled-ms', String(opts.stalledMs ?? 700), '--poll-ms', '200', ...(opts.extra ?? []));
  // the IPC channel makes the worker stop should this test process die
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, HESSE_REDIS_URL: opts.url } });
  const events: WorkerEvent[] = [];
  const stderr: string[] = [];
  const listeners: { type: string; f: (e: WorkerEvent) => void }[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const e = JSON.parse(line) as WorkerEvent;
    events.push(e);
    for (const l of listeners) if (l.type === e.type) l.f(e);
  });
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    stderr.push(line);
    process.stderr.write(`[worker] ${line}\n`);
  });
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, events, stderr, on: (type, f) => listeners.push({ type, f }), exited, alive: () => proc.exitCode === null && proc.signalCode === null };
}

export async function stopWorkers(workers: WorkerProcess[]): Promise<void> {
  for (const w of workers) if (w.alive()) w.proc.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.exited));
}

export const redisServerInstalled = spawnSync('redis-server', ['--version']).status === 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface PrivateRedis {
  port: number;
  url(auth?: string, db?: number): string;
  stop(): Promise<void>;
}

/** A redis-server of this test alone, on a free port, keeping nothing on disk. */
export async function startPrivateRedis(opts: { password?: string } = {}): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'hesse-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(opts.password ? ['--requirepass', opts.password] : [])];
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  const exited = new Promise((r) => proc.once('exit', r));
  const url = (auth?: string, db?: number) => `redis://${auth ? `${auth}@` : ''}127.0.0.1:${port}${db !== undefined ? `/${db}` : ''}`;
  await eventually(async () => (await tcpAnswers(port)) || proc.exitCode !== null, `redis-server on port ${port}`, 10_000);
  if (proc.exitCode !== null) throw new Error(`redis-server on port ${port} did not start`);
  return {
    port,
    url,
    async stop() {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function tcpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export interface Proxy {
  port: number;
  /** Drops every connection and refuses new ones, as a lost network would. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A TCP proxy to a Redis port, on a port of its own. */
export async function startProxy(targetPort: number): Promise<Proxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((client) => {
        const upstream = netConnect(targetPort, '127.0.0.1');
        for (const x of [client, upstream]) {
          sockets.add(x);
          x.on('close', () => sockets.delete(x));
          x.on('error', () => x.destroy());
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
      server = s;
    });
  const stop = async () => {
    const s = server;
    server = undefined;
    for (const x of sockets) x.destroy();
    if (s) await new Promise((r) => s.close(r));
  };
  await listen();
  return { port, cut: stop, restore: listen, close: stop };
}

export async function withTempDir<T>(f: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'hesse-cluster-'));
  try {
    return await f(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

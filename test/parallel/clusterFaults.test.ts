/**
 * The cluster when Redis fails it: stopped mid-run, cut off for a moment, a password wrong or
 * missing, a database it does not have. Each test starts a redis-server of its own on a free port
 * (the shared one on 6379 is never stopped).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { loadTensorDataset, saveTensorDataset } from '../../src/io/index.js';
import { resnet } from '../../src/nn/index.js';
import { ClusterError, clusterExecutor, inProcessExecutor, runWorker, RunKeys, type ClusterEvent, type WorkerEvent } from '../../src/parallel/index.js';
import { type ShardPlan } from '../../src/curvature/index.js';
import { hesse } from '../cli/run.js';
import {
  eventually,
  randomVector,
  redisRequired,
  redisServerInstalled,
  relativeError,
  smallImages,
  startPrivateRedis,
  startProxy,
  tinyResNet,
  withRedis,
} from './clusterHelpers.js';

if (!redisServerInstalled && !redisRequired) console.warn('hesse: redis-server is not installed, so the cluster fault tests are skipped (HESSE_REQUIRE_REDIS=1 makes this a failure)');

const plan: ShardPlan = { batchSize: 4, shards: [{ start: 0, end: 12 }, { start: 12, end: 24 }] };
const PASSWORD = 'pw-9f3c1e7a';

describe.skipIf(!redisServerInstalled && !redisRequired)('cluster when Redis fails (private redis-server)', () => {
  let dir: string;
  let data: Dataset;

  beforeAll(async () => {
    expect(redisServerInstalled, 'redis-server must be installed (HESSE_REQUIRE_REDIS=1)').toBe(true);
    dir = await mkdtemp(join(tmpdir(), 'hesse-faults-'));
    await saveTensorDataset(join(dir, 'set.safetensors'), smallImages(24, 3));
    data = await loadTensorDataset(join(dir, 'set.safetensors'));
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A coordinator and an in-process worker on `url`, each giving up on Redis after `reconnectMs`. */
  async function cluster(url: string, runName: string, reconnectMs: number) {
    const coordinatorEvents: ClusterEvent[] = [];
    const workerEvents: WorkerEvent[] = [];
    const stop = new AbortController();
    const worker = runWorker({ redisUrl: url, runName, concurrency: 1, datasetRoots: [dir], signal: stop.signal, pollMs: 100, reconnectTimeoutMs: reconnectMs, onEvent: (e) => workerEvents.push(e) });
    worker.catch(() => undefined);
    const model = tinyResNet(5);
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: url, runName, workerTimeoutMs: 60_000, reconnectTimeoutMs: reconnectMs, onEvent: (e) => coordinatorEvents.push(e) });
    return { ex, model, worker, stop, coordinatorEvents, workerEvents };
  }

  it('says once that Redis is unreachable, tries for the stated time, then fails the pending product and stops the worker with a ClusterError', async () => {
    const redis = await startPrivateRedis();
    const c = await cluster(redis.url(), 'stopped', 1500);
    // and `hesse worker` as a user sees it
    const lines: string[] = [];
    const cli = hesse(['worker', '--run', 'stopped', '--concurrency', '1', '--poll-ms', '100', '--reconnect-ms', '1500', '--dataset-root', dir], { env: { HESSE_REDIS_URL: redis.url() } });
    try {
      const v = randomVector(c.model.size, 1);
      await c.ex.products([v]);
      await eventually(async () => (await withRedis(redis.url(), (r) => r.keys(new RunKeys('stopped').workerPattern))).length === 2, 'both workers to join');
      const errorsBefore = c.workerEvents.filter((e) => e.type === 'error').length;
      await redis.stop();
      const pending = c.ex.products([randomVector(c.model.size, 2)]);
      const err = await pending.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterError);
      expect((err as Error).message).toBe(`lost Redis at ${redis.url()}: no answer for 1.5 s (connect ECONNREFUSED 127.0.0.1:${redis.port}); start it again, or check the network, and run again`);
      expect(c.coordinatorEvents.map((e) => e.type)).toEqual(['redis-unreachable']);
      expect(c.coordinatorEvents[0]).toMatchObject({ url: redis.url(), retryForMs: 1500 });
      // the executor stays failed, and closes without waiting for Redis
      await expect(c.ex.products([v])).rejects.toThrow(/lost Redis/);
      await c.ex.close();
      const workerErr = await c.worker.catch((e: unknown) => e);
      expect(workerErr).toBeInstanceOf(ClusterError);
      expect((workerErr as Error).message).toMatch(/^lost Redis at redis:\/\/127\.0\.0\.1:\d+: no answer for 1\.5 s/);
      expect(c.workerEvents.filter((e) => e.type === 'redis-unreachable')).toHaveLength(1);
      // and no stream of errors meanwhile
      expect(c.workerEvents.filter((e) => e.type === 'error')).toHaveLength(errorsBefore);
      expect(c.workerEvents.at(-1)?.type).toBe('stopped');
      const r = await cli;
      expect(r.code).toBe(1);
      lines.push(...r.stderr.split('\n').filter((l) => l.trim() !== ''));
      const said = lines.filter((l) => /does not answer/.test(l));
      expect(said, r.stderr).toHaveLength(1);
      expect(said[0]).toMatch(new RegExp(`^hesse worker: Redis at redis://127\\.0\\.0\\.1:${redis.port} does not answer \\(.+\\); trying again for 1\\.5 s$`));
      expect(lines.at(-1)).toMatch(/^hesse: lost Redis at redis:\/\/127\.0\.0\.1:\d+: no answer for 1\.5 s/);
      expect(lines.filter((l) => /error/i.test(l)), r.stderr).toEqual([]);
    } finally {
      c.stop.abort();
      await c.ex.close();
      await c.worker.catch(() => undefined);
      await redis.stop();
    }
  });

  it('rides out a short outage: the product in flight finishes, with the numbers it has without one', async () => {
    const redis = await startPrivateRedis();
    const proxy = await startProxy(redis.port);
    const url = `redis://127.0.0.1:${proxy.port}`;
    const c = await cluster(url, 'outage', 30_000);
    try {
      const v = randomVector(c.model.size, 3);
      const before = (await c.ex.products([v]))[0]!;
      const want = (await inProcessExecutor({ model: c.model, dataset: data, plan }).products([v]))[0]!;
      expect(relativeError(before, want)).toBeLessThan(1e-5);
      const started = c.workerEvents.filter((e) => e.type === 'started').length;
      const pending = c.ex.products([v]);
      await eventually(() => c.workerEvents.filter((e) => e.type === 'started').length > started, 'a job of the second product to start');
      await proxy.cut();
      await eventually(() => c.coordinatorEvents.length > 0 && c.workerEvents.some((e) => e.type === 'redis-unreachable'), 'both sides to notice');
      await new Promise((r) => setTimeout(r, 500));
      await proxy.restore();
      const after = (await pending)[0]!;
      expect(after).toEqual(before);
      expect(c.coordinatorEvents.map((e) => e.type)).toEqual(['redis-unreachable', 'redis-restored']);
      await eventually(() => c.workerEvents.some((e) => e.type === 'redis-restored'), 'the worker to say Redis is back');
      expect(c.workerEvents.filter((e) => e.type === 'redis-unreachable')).toHaveLength(1);
    } finally {
      await c.ex.close();
      c.stop.abort();
      await c.worker;
      await proxy.close();
      await redis.stop();
    }
  });

  it('takes the password and the database from the URL, BullMQ connections included', async () => {
    const redis = await startPrivateRedis({ password: PASSWORD });
    const url = redis.url(`:${PASSWORD}`, 3);
    const c = await cluster(url, 'secret', 10_000);
    try {
      const v = randomVector(c.model.size, 4);
      const got = (await c.ex.products([v]))[0]!;
      const want = (await inProcessExecutor({ model: c.model, dataset: data, plan }).products([v]))[0]!;
      expect(relativeError(got, want)).toBeLessThan(1e-5);
      const keys = new RunKeys('secret');
      expect(await withRedis(url, (r) => r.exists(keys.meta, `${keys.prefix}:jobs:meta`))).toBe(2);
      expect(await withRedis(redis.url(`:${PASSWORD}`, 0), (r) => r.dbsize())).toBe(0);
    } finally {
      await c.ex.close();
      c.stop.abort();
      await c.worker;
    }
    expect(await withRedis(url, (r) => r.dbsize())).toBe(0);
    await redis.stop();
  });

  it('a wrong or missing password, or a database Redis does not have: one line naming the URL (never the password) and a non-zero exit, coordinator and worker', async () => {
    const redis = await startPrivateRedis({ password: PASSWORD });
    try {
      const wrong = redis.url(':not-the-password');
      const problem = { model: tinyResNet(1), dataset: data, plan };
      const e1 = await clusterExecutor(problem, { redisUrl: wrong }).catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(ClusterError);
      expect((e1 as Error).message).toMatch(new RegExp(`^Redis at redis://\\*\\*\\*@127\\.0\\.0\\.1:${redis.port} refused the login \\(WRONGPASS.*\\); check the user and password in the URL$`));
      const e2 = await clusterExecutor(problem, { redisUrl: redis.url() }).catch((e: unknown) => e);
      expect((e2 as Error).message).toMatch(/refused the login \(.*NOAUTH.*\); it needs a password: put it in the URL, redis:\/\/:PASSWORD@HOST:PORT$/);
      const e3 = await clusterExecutor(problem, { redisUrl: redis.url(`:${PASSWORD}`, 99) }).catch((e: unknown) => e);
      expect((e3 as Error).message).toMatch(/has no database 99 .*; name one it has/);
      expect((e3 as Error).message).not.toContain(PASSWORD);

      const modelFile = join(dir, 'model.safetensors');
      await saveModel(modelFile, resnet({ depth: 8, width: 2, seed: 1 }));
      const env = { HESSE_REDIS_URL: '' };
      const cases: [string[], RegExp][] = [
        [['worker', '--redis', wrong], /refused the login \(WRONGPASS/],
        [['worker', '--redis', redis.url()], /it needs a password/],
        [['analyze', '--model', modelFile, '--data', 'synthetic:16', '--full-dataset', '--cluster', wrong, '--trace', '--trace-products', '2', '--out', join(dir, 'refused')], /refused the login \(WRONGPASS/],
      ];
      for (const [args, reason] of cases) {
        const r = await hesse(args, { env });
        expect(r.code, args.join(' ')).not.toBe(0);
        const lines = r.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('[') && !/^(loading|model|data|analy)/i.test(l));
        expect(lines.filter((l) => l.startsWith('hesse:')), r.stderr).toHaveLength(1);
        expect(lines.find((l) => l.startsWith('hesse:')), r.stderr).toMatch(reason);
        expect(r.stderr + r.stdout).not.toContain('not-the-password');
        expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
      }
    } finally {
      await redis.stop();
    }
  });
});

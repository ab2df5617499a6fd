import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/index.js';
import { OptionError } from '../../src/errors.js';
import { loadTensorDataset, saveTensorDataset } from '../../src/io/index.js';
import { hutchinson, powerIteration } from '../../src/linalg/index.js';
import { ClusterAbortedError, ClusterError, clusterExecutor, inProcessExecutor, NoWorkersError, PROTOCOL_VERSION, runWorker, RunKeys, type ShardJob, type WorkerEvent } from '../../src/parallel/index.js';
import { executorOperator, type ShardPlan } from '../../src/curvature/index.js';
import {
  eventually,
  keysOf,
  randomVector,
  redisAnswers,
  redisRequired,
  relativeError,
  SHARED_URL,
  sleep,
  smallImages,
  startWorker,
  stopWorkers,
  tinyResNet,
  withRedis,
  type WorkerProcess,
} from './clusterHelpers.js';

const redisUp = await redisAnswers(SHARED_URL);
if (!redisUp && !redisRequired) console.warn('hesse: no Redis answers on 127.0.0.1:6379, so the cluster tests are skipped (HESSE_REQUIRE_REDIS=1 makes this a failure)');

const plan: ShardPlan = { batchSize: 4, shards: [{ start: 0, end: 9 }, { start: 9, end: 20 }, { start: 20, end: 26 }, { start: 26, end: 32 }] };
const run = `test-${process.pid}`;
/** for the tests that kill a worker in the middle of a job: jobs long enough for the signal to land */
const bigPlan: ShardPlan = { batchSize: 8, shards: [{ start: 0, end: 16 }, { start: 16, end: 32 }, { start: 32, end: 48 }, { start: 48, end: 64 }] };

describe.skipIf(!redisUp && !redisRequired)('cluster on Redis (127.0.0.1:6379)', () => {
  let dir: string;
  let data: Dataset;
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    expect(redisUp, 'Redis must answer on 127.0.0.1:6379 (HESSE_REQUIRE_REDIS=1)').toBe(true);
    dir = await mkdtemp(join(tmpdir(), 'hesse-cluster-'));
    await saveTensorDataset(join(dir, 'set.safetensors'), smallImages(32, 5));
    await saveTensorDataset(join(dir, 'large.safetensors'), smallImages(64, 6, 32));
    data = await loadTensorDataset(join(dir, 'set.safetensors'));
    workers = [0, 1, 2].map(() => startWorker({ url: SHARED_URL, run, root: dir }));
  });

  afterAll(async () => {
    await stopWorkers(workers);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('computes the in-process products, top eigenvalue and trace with three worker processes, and leaves nothing in Redis', async () => {
    const model = tinyResNet(1);
    const progress: number[] = [];
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: SHARED_URL, runName: run, workerTimeoutMs: 60_000, onProgress: (p) => progress.push(p.workersSeen) });
    const local = inProcessExecutor({ model, dataset: data, plan });
    try {
      // shards are spread over the workers the coordinator sees: all three, from the first product
      await eventually(() => ex.progress().workersAlive === 3, 'the coordinator to see the three workers');
      const vs = [0, 1, 2].map((i) => randomVector(model.size, 30 + i));
      const got = await ex.products(vs);
      const want = await local.products(vs);
      for (let j = 0; j < 3; j++) expect(relativeError(got[j]!, want[j]!)).toBeLessThan(1e-5);

      const opts = { maxIter: 8, tol: 0, seed: 4 };
      const [pc, pl] = [await powerIteration(executorOperator(ex), opts), await powerIteration(executorOperator(local), opts)];
      expect(Math.abs(pc.eigenvalues[0]! - pl.eigenvalues[0]!)).toBeLessThan(1e-4 * Math.abs(pl.eigenvalues[0]!));
      const hopts = { probes: 4, seed: 5, blockSize: 2 };
      const [hc, hl] = [await hutchinson(executorOperator(ex), hopts), await hutchinson(executorOperator(local), hopts)];
      expect(Math.abs(hc.estimate - hl.estimate)).toBeLessThan(1e-4 * Math.abs(hl.estimate));

      const loss = await ex.losses();
      const lossLocal = await local.losses();
      expect(Math.abs(loss.loss - lossLocal.loss)).toBeLessThan(1e-9);
      expect(loss.accuracy).toBe(lossLocal.accuracy);

      const p = ex.progress();
      expect(p.products).toBe(3 + 8 + 4);
      expect(p.jobsDone).toBe(plan.shards.length * (1 + 8 + 2 + 1));
      expect(p.workersSeen).toBe(3);
      // the model and the vectors went up once each (one key per product, not one per shard)
      const blockBytes = (k: number) => k * model.size * 4;
      expect(p.bytesSent).toBeGreaterThan(blockBytes(3) + 8 * blockBytes(1) + 2 * blockBytes(2));
      expect(p.bytesSent).toBeLessThan(blockBytes(3) + 8 * blockBytes(1) + 2 * blockBytes(2) + 2 * model.size * 4 + 200_000);
      expect(p.bytesReceived).toBe(plan.shards.length * 15 * model.size * 8);
    } finally {
      await ex.close();
      await local.close();
    }
    expect(await keysOf(SHARED_URL, run)).toEqual([]);
    expect(progress.length).toBeGreaterThan(0);
    // the worker processes served the run and left it when it ended
    await eventually(() => workers.every((w) => w.events.some((e) => e.type === 'left')), 'the workers to leave the run');
    for (const w of workers) expect(w.events.some((e) => e.type === 'done')).toBe(true);
    // from the second product on, each shard stays with the worker that holds its primal passes
    const computedBy = new Map<string, Set<number>>();
    workers.forEach((w, i) =>
      w.events.forEach((e) => {
        if (e.type !== 'done' || e.op !== 'product' || Number(e.jobId.split('-')[1]) < 2) return;
        const key = e.shard.join(':');
        if (!computedBy.has(key)) computedBy.set(key, new Set());
        computedBy.get(key)!.add(i);
      }),
    );
    expect(computedBy.size).toBe(plan.shards.length);
    for (const ws of computedBy.values()) expect(ws.size).toBe(1);
  });

  it('retries the job of a worker killed with SIGKILL and gives the undisturbed numbers to the bit, with its coordinator renewing keys meanwhile', async () => {
    const runName = `${run}-kill`;
    const large = await loadTensorDataset(join(dir, 'large.safetensors'));
    // a short lock, so the killed worker's job is taken back soon; heartbeats far more often than the lock
    // lasts, so a heartbeat that renewed BullMQ's lock keys would keep the job locked for good
    const pair = [0, 1].map(() => startWorker({ url: SHARED_URL, run: runName, root: dir, lockMs: 1000, stalledMs: 500 }));
    const model = tinyResNet(2);
    const ex = await clusterExecutor({ model, dataset: large, plan: bigPlan }, { redisUrl: SHARED_URL, runName, workerTimeoutMs: 60_000, heartbeatMs: 100 });
    try {
      const at = (c: number) => Float32Array.from(model.theta, (t, i) => t + c * Math.cos(i));
      const v = randomVector(model.size, 6);
      // weights go up once, named by their hash: the same weights again are not sent again
      const sent = ex.progress().bytesSent;
      await ex.setWeights(at(0.03));
      await ex.setWeights(at(0.03));
      expect(ex.progress().bytesSent - sent).toBe(model.size * 4);
      const undisturbed = (await ex.products([v]))[0]!;
      const local = inProcessExecutor({ model, dataset: large, plan: bigPlan });
      await local.setWeights(at(0.03));
      expect(relativeError(undisturbed, (await local.products([v]))[0]!)).toBeLessThan(1e-5);
      // other weights in between, so that the product below computes its primal passes again and takes a while
      await ex.setWeights(at(-0.02));
      await ex.products([randomVector(model.size, 7)]);
      await ex.setWeights(at(0.03));
      // whichever worker starts a job of this product first dies in the middle of it
      let victim: WorkerProcess | undefined;
      for (const w of pair) {
        w.on('started', () => {
          if (victim) return;
          victim = w;
          w.proc.kill('SIGKILL');
        });
      }
      const retried = (await ex.products([v]))[0]!;
      expect(victim).toBeDefined();
      expect(await victim!.exited).toBeNull();
      expect(ex.progress().retries).toBeGreaterThanOrEqual(1);
      expect(retried).toEqual(undisturbed);
    } finally {
      await ex.close();
      await stopWorkers(pair);
    }
    expect(await keysOf(SHARED_URL, runName)).toEqual([]);
  });

  it('rejects and reports malformed jobs: a foreign run id, wrong sizes, a dataset outside the roots', async () => {
    const runName = `${run}-bad`;
    const events: WorkerEvent[] = [];
    const stop = new AbortController();
    const worker = runWorker({ redisUrl: SHARED_URL, runName, concurrency: 1, datasetRoots: [dir], signal: stop.signal, onEvent: (e) => events.push(e), pollMs: 100 });
    const model = tinyResNet(3);
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: SHARED_URL, runName, workerTimeoutMs: 60_000 });
    const keys = new RunKeys(runName);
    const redis = new Redis(SHARED_URL, { maxRetriesPerRequest: null });
    const queue = new Queue('jobs', { connection: redis, prefix: keys.queuePrefix });
    try {
      // a good product first: the worker is admitted to the run and has the model
      const v = randomVector(model.size, 7);
      const want = await inProcessExecutor({ model, dataset: data, plan }).products([v]);
      expect(relativeError((await ex.products([v]))[0]!, want[0]!)).toBeLessThan(1e-5);

      const vectorKey = keys.vectors(ex.runId, 998);
      const shortKey = keys.vectors(ex.runId, 999);
      await redis.set(vectorKey, Buffer.alloc(model.size * 4), 'PX', 60_000);
      await redis.set(shortKey, Buffer.alloc(model.size * 4 - 4), 'PX', 60_000);
      const modelKeys: string[] = [];
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${keys.prefix}:model:*`);
        modelKeys.push(...found);
        cursor = next;
      } while (cursor !== '0');
      const good: ShardJob = {
        v: PROTOCOL_VERSION,
        runId: ex.runId,
        op: 'product',
        seq: 998,
        shardIndex: 0,
        // the model hash the coordinator published
        modelHash: modelKeys[0]!.split(':').pop()!,
        thetaHash: null,
        parameters: model.size,
        dataset: { spec: data.spec!, normalize: null },
        shard: { start: 0, end: 4 },
        batchSize: 4,
        bnMode: 'eval',
        loss: 'cross-entropy',
        kind: 'hessian',
        maxBlock: 8,
        vectorKey,
        k: 1,
      };
      const bad: [string, ShardJob, RegExp][] = [
        ['foreign-run', { ...good, runId: 'someone-else' }, /admitted/],
        ['short-vector', { ...good, vectorKey: shortKey, seq: 999 }, /vectors hold/],
        ['wrong-parameters', { ...good, parameters: model.size + 1 }, /parameters/],
        ['too-many-vectors', { ...good, k: 10_000 }, /block of 10000 vectors/],
        ['outside-roots', { ...good, dataset: { spec: { kind: 'tensor', path: '/etc/hostname' }, normalize: null } }, /not inside this worker's dataset roots/],
        ['escape-roots', { ...good, dataset: { spec: { kind: 'tensor', path: '../../../../etc/hostname' }, normalize: null } }, /not inside this worker's dataset roots/],
        ['shard-outside', { ...good, shard: { start: 30, end: 40 } }, /not inside dataset/],
        ['foreign-key', { ...good, vectorKey: 'some:other:key' }, /vector key/],
      ];
      for (const [id, job] of bad) await queue.add('product', job, { jobId: `bad-${id}`, attempts: 3, removeOnFail: false });
      for (const [id, , reason] of bad) {
        await eventually(async () => (await queue.getJobState(`bad-${id}`)) === 'failed', `job bad-${id} to fail`);
        const job = (await queue.getJob(`bad-${id}`))!;
        expect(job.failedReason, id).toMatch(reason);
        // a rejection is final: no retries on other workers
        expect(job.attemptsMade, id).toBe(1);
        expect(events.some((e) => e.type === 'rejected' && e.jobId === `bad-${id}` && reason.test(e.reason)), id).toBe(true);
      }
      // the worker is still serving the run
      expect(relativeError((await ex.products([v]))[0]!, want[0]!)).toBeLessThan(1e-5);
    } finally {
      await queue.close();
      redis.disconnect();
      await ex.close();
      stop.abort();
      await worker;
    }
    expect(await keysOf(SHARED_URL, runName)).toEqual([]);
    expect(events.at(-1)?.type).toBe('stopped');
  });

  it('says so and stops when no worker serves the run', async () => {
    const runName = `${run}-empty`;
    const model = tinyResNet(1);
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: SHARED_URL, runName, workerTimeoutMs: 800 });
    try {
      const e = await ex.products([new Float32Array(model.size)]).then(() => null, (err: Error) => err);
      // the problem named: the run, the server, how long it waited; in words, no CLI flag
      expect(e).toBeInstanceOf(NoWorkersError);
      expect(e).toMatchObject({ runName });
      expect(e!.message).toMatch(new RegExp(`no worker has served run '${runName}' on redis://127\\.0\\.0\\.1:6379 for 1 s`));
      expect(e!.message).not.toContain('--');
    } finally {
      await ex.close();
    }
    expect(await keysOf(SHARED_URL, runName)).toEqual([]);
  });

  it('hands waiting jobs to a worker that joins during the run', async () => {
    const runName = `${run}-late`;
    const model = tinyResNet(8);
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: SHARED_URL, runName, workerTimeoutMs: 60_000 });
    const stop = new AbortController();
    let worker: Promise<void> | undefined;
    try {
      const v = randomVector(model.size, 9);
      const pending = ex.products([v]);
      await eventually(() => ex.progress().jobsPending === plan.shards.length, 'the jobs to wait');
      worker = runWorker({ redisUrl: SHARED_URL, runName, concurrency: 1, datasetRoots: [dir], signal: stop.signal, pollMs: 100 });
      const got = await pending;
      const want = await inProcessExecutor({ model, dataset: data, plan }).products([v]);
      expect(relativeError(got[0]!, want[0]!)).toBeLessThan(1e-5);
    } finally {
      await ex.close();
      stop.abort();
      await worker;
    }
    expect(await keysOf(SHARED_URL, runName)).toEqual([]);
  });

  it('refuses a second coordinator on a run name in use', async () => {
    const runName = `${run}-twice`;
    const model = tinyResNet(1);
    const first = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: SHARED_URL, runName });
    try {
      await expect(clusterExecutor({ model, dataset: data, plan }, { redisUrl: SHARED_URL, runName })).rejects.toThrow(/in use by another coordinator/);
    } finally {
      await first.close();
    }
    expect(await keysOf(SHARED_URL, runName)).toEqual([]);
  });

  it('stops waiting on a lost job at the first abort, and close() removes the run', async () => {
    const runName = `${run}-abort`;
    // a lock that outlives the test: the job of this worker, once it is killed, is lost
    const loser = startWorker({ url: SHARED_URL, run: runName, root: dir, lockMs: 600_000 });
    const model = tinyResNet(4);
    const stop = new AbortController();
    const large = await loadTensorDataset(join(dir, 'large.safetensors'));
    const ex = await clusterExecutor({ model, dataset: large, plan: bigPlan }, { redisUrl: SHARED_URL, runName, workerTimeoutMs: 600_000, signal: stop.signal });
    try {
      loser.on('started', () => loser.proc.kill('SIGKILL'));
      const pending = ex.products([randomVector(model.size, 12)]);
      pending.catch(() => undefined);
      await loser.exited;
      await sleep(200);
      stop.abort();
      const err = await pending.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterAbortedError);
      expect(err).toBeInstanceOf(ClusterError);
      expect((err as Error).name).toBe('AbortError');
      // and so is everything after it, at once
      await expect(ex.products([randomVector(model.size, 13)])).rejects.toBeInstanceOf(ClusterAbortedError);
      await expect(ex.losses()).rejects.toBeInstanceOf(ClusterAbortedError);
    } finally {
      await ex.close();
      await stopWorkers([loser]);
    }
    expect(await keysOf(SHARED_URL, runName)).toEqual([]);
  });

  it('gives a TTL to every key a worker finds without one when it leaves a run, and leaves the TTLs of locks and other keys alone', async () => {
    const runName = `${run}-sweep`;
    const keys = new RunKeys(runName);
    const events: WorkerEvent[] = [];
    const stop = new AbortController();
    const [stream, lock, check, model] = [`${keys.prefix}:jobs:events`, `${keys.prefix}:jobs:x-1-0:lock`, `${keys.prefix}:jobs:stalled-check`, keys.model('b'.repeat(64))];
    await withRedis(SHARED_URL, async (c) => {
      // as a dead coordinator's run looks once its keys expired and a job that was running wrote again
      await c.set(keys.meta, JSON.stringify({ v: PROTOCOL_VERSION, runId: 'sweep', heartbeat: Date.now(), heartbeatMs: 1000, ttlMs: 60_000 }), 'PX', 60_000);
      await c.xadd(stream, '*', 'event', 'failed');
      await c.set(lock, 'token');
      await c.set(check, '1', 'PX', 50_000);
      await c.set(model, 'x', 'PX', 20_000);
    });
    const worker = runWorker({ redisUrl: SHARED_URL, runName, concurrency: 1, signal: stop.signal, onEvent: (e) => events.push(e), pollMs: 100 });
    try {
      await eventually(() => events.some((e) => e.type === 'joined'), 'the worker to join');
      await withRedis(SHARED_URL, (c) => c.del(keys.meta));
      await eventually(() => events.some((e) => e.type === 'left'), 'the worker to leave');
      const [ttlStream, ttlLock, ttlCheck, ttlModel] = await withRedis(SHARED_URL, (c) => Promise.all([stream, lock, check, model].map((k) => c.pttl(k))));
      expect(ttlStream).toBeGreaterThan(50_000);
      expect(ttlStream).toBeLessThanOrEqual(60_000);
      expect(ttlLock).toBe(-1);
      expect(ttlCheck).toBeLessThanOrEqual(50_000);
      expect(ttlModel).toBeLessThanOrEqual(20_000);
    } finally {
      stop.abort();
      await worker;
      await withRedis(SHARED_URL, async (c) => void (await c.del(stream, lock, check, model)));
    }
    expect(await keysOf(SHARED_URL, runName)).toEqual([]);
  });

  it('leaves no key without a TTL when its coordinator is killed, and after the TTL nothing at all', async () => {
    const runName = `${run}-orphan`;
    const ttlMs = 6000;
    const pair = [0, 1].map(() => startWorker({ url: SHARED_URL, run: runName, root: dir }));
    const script = fileURLToPath(new URL('./coordinatorProcess.ts', import.meta.url));
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const cfg = { url: SHARED_URL, run: runName, data: join(dir, 'set.safetensors'), ttlMs, heartbeatMs: 200 };
    const coordinator = spawn(process.execPath, ['--import', tsx, script, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    const died = new Promise((r) => coordinator.once('exit', r));
    try {
      const lines: string[] = [];
      createInterface({ input: coordinator.stdout! }).on('line', (l) => lines.push(l));
      // killed in the middle of a product, with jobs waiting and running (the first product has run to the end)
      await eventually(() => lines.some((l) => l.includes('"product"')), 'the coordinator to finish a product', 60_000);
      const startedBefore = pair.reduce((n, w) => n + w.events.filter((e) => e.type === 'started').length, 0);
      await eventually(() => pair.reduce((n, w) => n + w.events.filter((e) => e.type === 'started').length, 0) > startedBefore, 'a job of the next product to start');
      coordinator.kill('SIGKILL');
      await died;
      // the workers leave the run once its key has expired
      await eventually(() => pair.every((w) => w.events.some((e) => e.type === 'left')), 'the workers to leave the dead run');
      // what is left (perhaps nothing, when everything expired first) expires
      const keys = await keysOf(SHARED_URL, runName);
      const ttls = await withRedis(SHARED_URL, (c) => Promise.all(keys.map((k) => c.pttl(k))));
      // -2: expired between the two looks
      for (const [i, k] of keys.entries()) expect(ttls[i] === -2 || ttls[i]! > 0, `${k} has PTTL ${ttls[i]}`).toBe(true);
      await eventually(async () => (await keysOf(SHARED_URL, runName)).length === 0, 'every key of the run to expire', ttlMs + 20_000);
    } finally {
      if (coordinator.exitCode === null && coordinator.signalCode === null) coordinator.kill('SIGKILL');
      await stopWorkers(pair);
    }
  });
});

describe('cluster without a server', () => {
  it('names a bad option, and the least it may be, before connecting', async () => {
    const problem = { model: tinyResNet(1), dataset: smallImages(8, 1), plan: { batchSize: 4, shards: [{ start: 0, end: 8 }] } };
    const remoteSpec = { kind: 'synthetic' as const, n: 8, seed: 1, classes: 4, split: 'train' as const };
    const bad: [Record<string, number>, RegExp][] = [
      [{ heartbeatMs: 100, runTtlMs: 200 }, /runTtlMs must be a number of milliseconds of at least 300, got 200/],
      [{ reconnectTimeoutMs: -1 }, /reconnectTimeoutMs must be .* at least 0, got -1/],
      [{ workerTimeoutMs: 0 }, /workerTimeoutMs must be .* at least 1, got 0/],
      [{ attempts: 0 }, /attempts must be a positive integer, got 0/],
    ];
    for (const [o, reason] of bad) {
      const err = await clusterExecutor(problem, { redisUrl: 'redis://127.0.0.1:1', remoteSpec, ...o }).catch((e: unknown) => e);
      expect(err, JSON.stringify(o)).toBeInstanceOf(OptionError);
      expect((err as Error).message).toMatch(reason);
    }
    await expect(runWorker({ redisUrl: 'redis://127.0.0.1:1', reconnectTimeoutMs: -5 })).rejects.toThrow(/reconnectTimeoutMs must be .* at least 0, got -5/);
    await expect(runWorker({ redisUrl: 'redis://127.0.0.1:1', lockDurationMs: 0 })).rejects.toThrow(/lockDurationMs must be a positive number, got 0/);
  });

  it('fails at once when Redis is unreachable, naming the URL without the password', async () => {
    const model = tinyResNet(1);
    const d = smallImages(8, 1);
    const spec = { kind: 'synthetic' as const, n: 8, seed: 1, classes: 4, split: 'train' as const };
    const err = await clusterExecutor({ model, dataset: d, plan: { batchSize: 4, shards: [{ start: 0, end: 8 }] } }, { redisUrl: 'redis://hesse:s3cret-pw@127.0.0.1:1', remoteSpec: spec }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterError);
    const message = (err as Error).message;
    expect(message).toContain('redis://hesse:***@127.0.0.1:1');
    expect(message).toMatch(/ECONNREFUSED/);
    expect(message).not.toContain('s3cret');
  });
});

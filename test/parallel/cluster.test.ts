import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageDataset, type Dataset } from '../../src/data/index.js';
import { loadTensorDataset, saveTensorDataset } from '../../src/io/index.js';
import { hutchinson, powerIteration } from '../../src/linalg/index.js';
import { resnet, type Model } from '../../src/nn/index.js';
import {
  ClusterError,
  clusterExecutor,
  executorOperator,
  inProcessExecutor,
  parseRedisUrl,
  PROTOCOL_VERSION,
  RespClient,
  runWorker,
  RunKeys,
  type ShardJob,
  type ShardPlan,
  type WorkerEvent,
} from '../../src/parallel/index.js';
import { cliPath } from '../cli/run.js';
import { Rng } from '../../src/tensor/index.js';
import { relativeError } from '../helpers/fixtures.js';

const URL_ = 'redis://127.0.0.1:6379';

async function redisAnswers(): Promise<boolean> {
  const c = new RespClient(parseRedisUrl(URL_), { reconnect: false, connectTimeoutMs: 1000 });
  try {
    await c.connect();
    return (await c.call('PING')) === 'PONG';
  } catch {
    return false;
  } finally {
    c.disconnect();
  }
}

const redisUp = await redisAnswers();
const required = process.env.HESSE_REQUIRE_REDIS === '1';
if (!redisUp && !required) console.warn('hesse: no Redis answers on 127.0.0.1:6379, so the cluster tests are skipped (HESSE_REQUIRE_REDIS=1 makes this a failure)');

const plan: ShardPlan = { batchSize: 4, shards: [{ start: 0, end: 9 }, { start: 9, end: 20 }, { start: 20, end: 26 }, { start: 26, end: 32 }] };
const run = `test-${process.pid}`;

function smallImages(n: number, seed: number): ImageDataset {
  const rng = new Rng(seed);
  const pixels = Uint8Array.from({ length: n * 3 * 8 * 8 }, () => rng.int(256));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  return new ImageDataset({ name: 'small', pixels, labels, channels: 3, height: 8, width: 8, classes: 4 });
}

function tinyResNet(seed: number): Model {
  const m = resnet({ depth: 8, width: 4, classes: 4, seed });
  for (const [name, t] of m.buffers) t.data.fill(name.endsWith('running_var') ? 1.2 : 0.02);
  return m;
}

async function keysOf(runName: string): Promise<string[]> {
  const c = new RespClient(parseRedisUrl(URL_));
  try {
    return await c.keysMatching(new RunKeys(runName).pattern);
  } finally {
    await c.quit();
  }
}

interface WorkerProcess {
  proc: ChildProcess;
  events: WorkerEvent[];
  on(type: WorkerEvent['type'], f: (e: WorkerEvent) => void): void;
  exited: Promise<unknown>;
}

function startWorker(root: string, runName: string): WorkerProcess {
  // the built command, as a user starts it: hesse worker (the URL through the environment)
  const args = [cliPath, '--json', 'worker', '--run', runName, '--concurrency', '1', '--dataset-root', root, '--lock-ms', '2000', '--stalled-ms', '700', '--poll-ms', '200'];
  // the URL through the environment, as a user with a password would pass it
  // the IPC channel makes the worker stop should this test process die
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, HESSE_REDIS_URL: URL_ } });
  const events: WorkerEvent[] = [];
  const listeners: { type: string; f: (e: WorkerEvent) => void }[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const e = JSON.parse(line) as WorkerEvent;
    events.push(e);
    for (const l of listeners) if (l.type === e.type) l.f(e);
  });
  proc.stderr!.on('data', (d) => process.stderr.write(`[worker] ${d}`));
  const exited = new Promise((r) => proc.on('exit', r));
  return { proc, events, on: (type, f) => listeners.push({ type, f }), exited };
}

describe.skipIf(!redisUp && !required)('cluster on Redis (127.0.0.1:6379)', () => {
  let dir: string;
  let data: Dataset;
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    expect(redisUp, 'Redis must answer on 127.0.0.1:6379 (HESSE_REQUIRE_REDIS=1)').toBe(true);
    dir = await mkdtemp(join(tmpdir(), 'hesse-cluster-'));
    await saveTensorDataset(join(dir, 'set.safetensors'), smallImages(32, 5));
    data = await loadTensorDataset(join(dir, 'set.safetensors'));
    workers = [0, 1, 2].map(() => startWorker(dir, run));
  });

  afterAll(async () => {
    for (const w of workers) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('computes the in-process products, top eigenvalue and trace with three worker processes, and leaves nothing in Redis', async () => {
    const model = tinyResNet(1);
    const progress: number[] = [];
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: URL_, runName: run, workerTimeoutMs: 60_000, onProgress: (p) => progress.push(p.workersSeen) });
    const local = inProcessExecutor({ model, dataset: data, plan });
    try {
      const rng = new Rng(3);
      const vs = [0, 1, 2].map(() => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
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
      // every shard was computed somewhere, and the vectors went up once per product
      expect(p.bytesSent).toBeGreaterThan(15 * model.size * 4);
      expect(p.bytesReceived).toBe(plan.shards.length * 15 * model.size * 4);
    } finally {
      await ex.close();
      await local.close();
    }
    expect(await keysOf(run)).toEqual([]);
    expect(progress.length).toBeGreaterThan(0);
    // the worker processes served the run and left it when it ended
    for (let i = 0; i < 40 && !workers.every((w) => w.events.some((e) => e.type === 'left')); i++) await new Promise((res) => setTimeout(res, 50));
    for (const w of workers) {
      expect(w.events.some((e) => e.type === 'done')).toBe(true);
      expect(w.events.some((e) => e.type === 'left')).toBe(true);
    }
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

  it('survives a worker killed with SIGKILL in the middle of a product and gives the same numbers', async () => {
    const model = tinyResNet(2);
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: URL_, runName: run, workerTimeoutMs: 60_000 });
    const local = inProcessExecutor({ model, dataset: data, plan });
    try {
      const rng = new Rng(6);
      const v = rng.fillNormal(new Float32Array(model.size)) as Float32Array;
      await ex.products([v]);
      // new weights, so the next product recomputes its primal passes and takes a while
      const moved = Float32Array.from(model.theta, (t, i) => t + 0.03 * Math.cos(i));
      await ex.setWeights(moved);
      await local.setWeights(moved);
      // whichever worker starts a job of this product first dies in the middle of it
      let victim: WorkerProcess | undefined;
      for (const w of workers) {
        w.on('started', () => {
          if (victim) return;
          victim = w;
          w.proc.kill('SIGKILL');
        });
      }
      const got = await ex.products([v]);
      expect(victim).toBeDefined();
      await victim!.exited;
      const want = await local.products([v]);
      expect(relativeError(got[0]!, want[0]!)).toBeLessThan(1e-5);
      expect(ex.progress().retries).toBeGreaterThanOrEqual(1);
    } finally {
      await ex.close();
      await local.close();
    }
    expect(await keysOf(run)).toEqual([]);
  });

  it('rejects and reports malformed jobs: a foreign run id, wrong sizes, a dataset outside the roots', async () => {
    const runName = `${run}-bad`;
    const events: WorkerEvent[] = [];
    const stop = new AbortController();
    const worker = runWorker({ redisUrl: URL_, runName, concurrency: 1, datasetRoots: [dir], signal: stop.signal, onEvent: (e) => events.push(e), pollMs: 100 });
    const model = tinyResNet(3);
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: URL_, runName, workerTimeoutMs: 60_000 });
    const keys = new RunKeys(runName);
    const redis = new RespClient(parseRedisUrl(URL_));
    const queue = new Queue('jobs', { connection: redis, prefix: keys.queuePrefix });
    try {
      // a good product first: the worker is admitted to the run and has the model
      const v = new Rng(7).fillNormal(new Float32Array(model.size)) as Float32Array;
      const want = await inProcessExecutor({ model, dataset: data, plan }).products([v]);
      expect(relativeError((await ex.products([v]))[0]!, want[0]!)).toBeLessThan(1e-5);

      const vectorKey = keys.vectors(ex.runId, 998);
      const shortKey = keys.vectors(ex.runId, 999);
      await redis.set(vectorKey, Buffer.alloc(model.size * 4), { PX: 60_000 });
      await redis.set(shortKey, Buffer.alloc(model.size * 4 - 4), { PX: 60_000 });
      const good: ShardJob = {
        v: PROTOCOL_VERSION,
        runId: ex.runId,
        op: 'product',
        seq: 998,
        shardIndex: 0,
        modelHash: '',
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
      // the model hash the coordinator published
      good.modelHash = (await redis.keysMatching(`${keys.prefix}:model:*`))[0]!.split(':').pop()!;
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
      for (const [id, data_, _] of bad) await queue.add('product', data_, { jobId: `bad-${id}`, attempts: 3, removeOnFail: false });
      for (const [id, , reason] of bad) {
        let state = '';
        for (let i = 0; i < 200 && state !== 'failed'; i++) {
          state = await queue.getJobState(`bad-${id}`);
          if (state !== 'failed') await new Promise((r) => setTimeout(r, 50));
        }
        expect(state, id).toBe('failed');
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
      await redis.quit();
      await ex.close();
      stop.abort();
      await worker;
    }
    expect(await keysOf(runName)).toEqual([]);
    expect(events.at(-1)?.type).toBe('stopped');
  });

  it('says so and stops when no worker serves the run', async () => {
    const runName = `${run}-empty`;
    const model = tinyResNet(1);
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: URL_, runName, workerTimeoutMs: 800 });
    try {
      await expect(ex.products([new Float32Array(model.size)])).rejects.toThrow(/no worker has served run .* for 1 s; start workers/);
    } finally {
      await ex.close();
    }
    expect(await keysOf(runName)).toEqual([]);
  });

  it('hands waiting jobs to a worker that joins during the run', async () => {
    const runName = `${run}-late`;
    const model = tinyResNet(8);
    const ex = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: URL_, runName, workerTimeoutMs: 60_000 });
    const stop = new AbortController();
    let worker: Promise<void> | undefined;
    try {
      const v = new Rng(9).fillNormal(new Float32Array(model.size)) as Float32Array;
      const pending = ex.products([v]);
      await new Promise((r) => setTimeout(r, 300));
      expect(ex.progress().jobsPending).toBe(plan.shards.length);
      worker = runWorker({ redisUrl: URL_, runName, concurrency: 1, datasetRoots: [dir], signal: stop.signal, pollMs: 100 });
      const got = await pending;
      const want = await inProcessExecutor({ model, dataset: data, plan }).products([v]);
      expect(relativeError(got[0]!, want[0]!)).toBeLessThan(1e-5);
    } finally {
      await ex.close();
      stop.abort();
      await worker;
    }
    expect(await keysOf(runName)).toEqual([]);
  });

  it('refuses a second coordinator on a run name in use', async () => {
    const runName = `${run}-twice`;
    const model = tinyResNet(1);
    const first = await clusterExecutor({ model, dataset: data, plan }, { redisUrl: URL_, runName });
    try {
      await expect(clusterExecutor({ model, dataset: data, plan }, { redisUrl: URL_, runName })).rejects.toThrow(/in use by another coordinator/);
    } finally {
      await first.close();
    }
    expect(await keysOf(runName)).toEqual([]);
  });
});

describe('cluster without a server', () => {
  it('fails fast when Redis is unreachable, naming the URL without the password', async () => {
    const model = tinyResNet(1);
    const d = smallImages(8, 1);
    const spec = { kind: 'synthetic' as const, n: 8, seed: 1, classes: 4, split: 'train' as const };
    const t = performance.now();
    const err = await clusterExecutor({ model, dataset: d, plan: { batchSize: 4, shards: [{ start: 0, end: 8 }] } }, { redisUrl: 'redis://hesse:s3cret-pw@127.0.0.1:1', remoteSpec: spec }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClusterError);
    const message = (err as Error).message;
    expect(message).toContain('redis://hesse:***@127.0.0.1:1');
    expect(message).not.toContain('s3cret');
    expect(performance.now() - t).toBeLessThan(5000);
  });
});

/**
 * How soon a cluster run gets over a worker killed in the middle of a job: two `hesse worker`
 * processes on this machine, the first to start a job of a product is SIGKILLed, and the time from
 * the kill until another worker starts that job again (and until the product is done) is printed,
 * for BullMQ's lock durations (the default and a short one). Figures only, never pass or fail.
 * Sizes from the environment: HESSE_BENCH_RETRY_TRIALS (3 per lock), HESSE_BENCH_REDIS
 * (redis://127.0.0.1:6379).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { synthetic } from '../src/data/index.js';
import { resnet } from '../src/nn/index.js';
import { clusterExecutor, RedisLink, type WorkerEvent } from '../src/parallel/index.js';
import { planShards } from '../src/curvature/index.js';
import { parseRedisUrl } from '../src/parallel/redisUrl.js';
import { Rng } from '../src/tensor/index.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length;
  return m % 2 ? s[(m - 1) / 2]! : (s[m / 2 - 1]! + s[m / 2]!) / 2;
}

interface Worker {
  proc: ChildProcess;
  on(f: (e: WorkerEvent) => void): void;
  exited: Promise<unknown>;
}

function startWorker(cli: string, url: string, run: string, lockMs: number, stalledMs: number): Worker {
  const proc = spawn(process.execPath, [cli, '--json', 'worker', '--run', run, '--concurrency', '1', '--lock-ms', String(lockMs), '--stalled-ms', String(stalledMs)], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    env: { ...process.env, HESSE_REDIS_URL: url },
  });
  const listeners: ((e: WorkerEvent) => void)[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    const e = JSON.parse(l) as WorkerEvent;
    for (const f of listeners) f(e);
  });
  return { proc, on: (f) => listeners.push(f), exited: new Promise((r) => proc.once('exit', r)) };
}

async function redisAnswers(url: string): Promise<boolean> {
  try {
    await (await RedisLink.open(parseRedisUrl(url), { name: 'hesse-bench', connectTimeoutMs: 1000 })).close();
    return true;
  } catch {
    return false;
  }
}

export async function benchClusterRetry(): Promise<void> {
  const url = process.env.HESSE_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
  const trials = Number(process.env.HESSE_BENCH_RETRY_TRIALS ?? 3);
  if (!(await redisAnswers(url))) {
    console.log(`\ncluster retry: no Redis at ${parseRedisUrl(url).display}, skipped`);
    return;
  }
  const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
  const model = resnet({ depth: 8, width: 8, seed: 1 });
  const dataset = synthetic({ n: 256, seed: 1 });
  const plan = planShards(256, { batchSize: 32, shards: 4 });
  const rng = new Rng(3);
  const v = rng.fillNormal(new Float32Array(model.size)) as Float32Array;
  console.log(`\ncluster retry: ResNet-8 width 8 (${model.size} parameters), 256 synthetic samples in 4 shards, 2 worker processes, the first to start a job SIGKILLed; ${trials} trials per lock`);

  for (const [lockMs, stalledMs] of [[6000, 3000], [2000, 700]] as const) {
    const run = `bench-retry-${process.pid}-${lockMs}`;
    const workers = [0, 1].map(() => startWorker(cli, url, run, lockMs, stalledMs));
    const ex = await clusterExecutor({ model, dataset, plan }, { redisUrl: url, runName: run, workerTimeoutMs: 120_000 });
    const retry: number[] = [], disturbed: number[] = [], undisturbed: number[] = [];
    try {
      await ex.products([v]);
      for (let t = 0; t < trials; t++) {
        // fresh weights: every job computes its primal passes, so the kill lands in the middle of one
        await ex.setWeights(Float32Array.from(model.theta, (x, i) => x + 0.01 * Math.sin(i + 2 * t)));
        let t0 = performance.now();
        await ex.products([v]);
        undisturbed.push(performance.now() - t0);
        await ex.setWeights(Float32Array.from(model.theta, (x, i) => x + 0.01 * Math.sin(i + 2 * t + 1)));
        let killedAt = 0, killedJob = '', restartedAt = 0;
        const alive = workers.filter((w) => w.proc.exitCode === null && w.proc.signalCode === null);
        for (const w of alive) {
          w.on((e) => {
            if (e.type !== 'started') return;
            if (!killedJob) {
              killedJob = e.jobId;
              killedAt = performance.now();
              w.proc.kill('SIGKILL');
            } else if (e.jobId === killedJob && !restartedAt) restartedAt = performance.now();
          });
        }
        t0 = performance.now();
        await ex.products([v]);
        disturbed.push(performance.now() - t0);
        retry.push(restartedAt - killedAt);
        // a new worker in place of the killed one, serving before the next trial
        const victim = workers.findIndex((w) => w.proc.signalCode === 'SIGKILL');
        workers[victim] = startWorker(cli, url, run, lockMs, stalledMs);
        await ex.products([v]);
      }
    } finally {
      await ex.close();
      for (const w of workers) w.proc.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.exited));
    }
    const s = (xs: number[]) => `${(median(xs) / 1000).toFixed(2)} s`;
    console.log(
      `  lock ${lockMs} ms, stalled check every ${stalledMs} ms: job started again ${s(retry)} after the kill (median; ${retry.map((x) => (x / 1000).toFixed(2)).join(', ')}), ` +
        `product ${s(disturbed)} with the kill against ${s(undisturbed)} without`,
    );
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await benchClusterRetry();

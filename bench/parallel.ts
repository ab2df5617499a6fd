import { fileURLToPath } from 'node:url';
/**
 * Sharded Hessian-vector products of ResNet-20 over CIFAR-shaped synthetic samples: products per
 * second in this thread, on 1 and 2 local worker threads (the speed-up), and on a Redis + BullMQ
 * cluster of two worker processes on this machine (the overhead per product against the local
 * threads, and the bytes moved through Redis per product). Sizes come from the environment:
 *   HESSE_BENCH_PARALLEL_SAMPLES (default 1024), _BATCH (128), _PRODUCTS (2 timed, after one
 *   warm-up), _SHARDS (4), _CACHE_MB (2048, primal passes kept per configuration),
 *   _DEPTH (20), HESSE_BENCH_REDIS (redis://127.0.0.1:6379; 'none' skips the cluster).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { synthetic } from '../src/data/index.js';
import { resnet } from '../src/nn/index.js';
import { clusterExecutor, inProcessExecutor, threadExecutor } from '../src/parallel/index.js';
import { planShards, type ShardExecutor, type ShardProblem } from '../src/curvature/index.js';
import { RedisLink } from '../src/parallel/redisLink.js';
import { parseRedisUrl } from '../src/parallel/redisUrl.js';
import { Rng } from '../src/tensor/index.js';

function env(name: string, fallback: number): number {
  const v = process.env[`HESSE_BENCH_PARALLEL_${name}`];
  const x = v === undefined ? fallback : Number(v);
  if (!Number.isInteger(x) || x < 1) throw new Error(`HESSE_BENCH_PARALLEL_${name} must be a positive integer, got '${v}'`);
  return x;
}

interface Row {
  config: string;
  secondsPerProduct: number;
  /** CPU seconds of this process per wall second: the cores it really got on a shared machine */
  cores?: number;
  bytesPerProduct?: number;
}

async function time(ex: ShardExecutor, vectors: Float32Array[], products: number): Promise<{ seconds: number; cores: number }> {
  await ex.products([vectors[0]!]); // warm-up: data loaded, primal passes computed and cached as far as they fit
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < products; i++) await ex.products([vectors[(i + 1) % vectors.length]!]);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(c0);
  return { seconds: wall / products, cores: (cpu.user + cpu.system) / 1e6 / wall };
}

async function redisAnswers(url: string): Promise<boolean> {
  try {
    await (await RedisLink.open(parseRedisUrl(url), { name: 'hesse-bench', connectTimeoutMs: 1000 })).close();
    return true;
  } catch {
    return false;
  }
}

export async function benchParallel(): Promise<void> {
  const samples = env('SAMPLES', 1024);
  const batchSize = env('BATCH', 128);
  const products = env('PRODUCTS', 2);
  const shards = env('SHARDS', 4);
  const cacheBytes = env('CACHE_MB', 2048) * 2 ** 20;
  const depth = env('DEPTH', 20);
  const redisUrl = process.env.HESSE_BENCH_REDIS ?? 'redis://127.0.0.1:6379';

  const model = resnet({ depth, seed: 1 });
  const dataset = synthetic({ n: samples, seed: 1 });
  const plan = planShards(samples, { batchSize, shards });
  const problem: ShardProblem = { model, dataset, plan, normalize: { mean: [0.49, 0.48, 0.45], std: [0.2, 0.2, 0.2] } };
  const rng = new Rng(2);
  const vectors = [0, 1].map(() => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
  console.log(`\nparallel: ResNet-${depth} (${model.size} parameters), ${samples} synthetic CIFAR samples, batch ${batchSize}, ${plan.shards.length} shards, ${products} timed products after one warm-up, cache ${cacheBytes / 2 ** 20} MiB`);

  const rows: Row[] = [];
  const measureLocal = async (config: string, make: () => Promise<ShardExecutor>) => {
    const ex = await make();
    try {
      const t = await time(ex, vectors, products);
      rows.push({ config, secondsPerProduct: t.seconds, cores: t.cores });
    } finally {
      await ex.close();
    }
  };
  await measureLocal('this thread (native threads as configured)', async () => inProcessExecutor(problem, { cacheBytes }));
  await measureLocal('1 worker thread', () => threadExecutor(problem, { workers: 1, cacheBytes }));
  await measureLocal('2 worker threads', () => threadExecutor(problem, { workers: 2, cacheBytes }));

  if (redisUrl !== 'none' && (await redisAnswers(redisUrl))) {
    const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
    const run = `bench-${process.pid}`;
    const procs = [0, 1].map(() =>
      spawn(process.execPath, [cli, '--json', 'worker', '--run', run, '--concurrency', '1', '--cache-mb', String(Math.floor(cacheBytes / 2 / 2 ** 20))], {
        stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
        env: { ...process.env, HESSE_REDIS_URL: redisUrl },
      }),
    );
    for (const p of procs) createInterface({ input: p.stdout! }).on('line', () => undefined);
    try {
      const ex = await clusterExecutor(problem, { redisUrl, runName: run, workerTimeoutMs: 120_000 });
      try {
        await ex.products([vectors[0]!]);
        const before = ex.progress();
        const t0 = performance.now();
        for (let i = 0; i < products; i++) await ex.products([vectors[(i + 1) % 2]!]);
        const seconds = (performance.now() - t0) / 1000 / products;
        const after = ex.progress();
        const bytes = after.bytesSent + after.bytesReceived + after.workerBytes - (before.bytesSent + before.bytesReceived + before.workerBytes);
        rows.push({ config: 'Redis cluster, 2 worker processes', secondsPerProduct: seconds, bytesPerProduct: bytes / products });
      } finally {
        await ex.close();
      }
    } finally {
      for (const p of procs) p.kill('SIGTERM');
      await Promise.all(procs.map((p) => new Promise((r) => p.once('exit', r))));
    }
  } else {
    console.log(`  (no Redis at ${parseRedisUrl(redisUrl === 'none' ? 'redis://127.0.0.1' : redisUrl).display}: cluster skipped)`);
  }

  const one = rows.find((r) => r.config === '1 worker thread')!.secondsPerProduct;
  const two = rows.find((r) => r.config === '2 worker threads')!.secondsPerProduct;
  for (const r of rows) {
    const extra = r.bytesPerProduct !== undefined ? `, ${(r.bytesPerProduct / 2 ** 20).toFixed(1)} MiB through Redis per product, overhead ${(r.secondsPerProduct - two).toFixed(2)} s per product against 2 worker threads` : '';
    const cores = r.cores !== undefined ? `, ${r.cores.toFixed(2)} cores busy` : '';
    console.log(`  ${r.config.padEnd(44)} ${(1 / r.secondsPerProduct).toFixed(3)} products/s (${r.secondsPerProduct.toFixed(2)} s each${cores})${extra}`);
  }
  console.log(`  speed-up of 2 worker threads over 1: ${(one / two).toFixed(2)}x; one vector is ${((model.size * 4) / 2 ** 20).toFixed(2)} MiB`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await benchParallel();

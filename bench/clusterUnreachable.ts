/**
 * How long a coordinator takes to report a Redis it cannot reach and stop: the timing that was an
 * assertion in the cluster tests ("fails within 5 s"). A port on this machine that nothing listens
 * on (connection refused), two ways: `clusterExecutor()` in this process (until it rejects with its
 * ClusterError), and a `hesse analyze --full-dataset --cluster` process (from spawn until it has
 * printed its error and exited; this includes Node's start and loading hesse). Figures only, never
 * pass or fail. Trials from HESSE_BENCH_UNREACHABLE_TRIALS (5).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { synthetic } from '../src/data/index.js';
import { saveModel } from '../src/io/checkpoint.js';
import { resnet } from '../src/nn/index.js';
import { clusterExecutor } from '../src/parallel/index.js';
import { envInt } from './stats.js';

/** A local port nothing listens on: one the system just gave out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as { port: number };
  await new Promise<void>((ok) => server.close(() => ok()));
  return port;
}

const summary = (ms: number[], digits = 0) => {
  const s = [...ms].sort((a, b) => a - b);
  const m = s.length;
  const median = m % 2 ? s[(m - 1) / 2]! : (s[m / 2 - 1]! + s[m / 2]!) / 2;
  return `median ${median.toFixed(digits).padStart(6)} ms  (min ${s[0]!.toFixed(digits)}, max ${s[m - 1]!.toFixed(digits)})`;
};

function runCli(cli: string, args: string[]): Promise<{ ms: number; code: number | null; lastLine: string }> {
  const t = performance.now();
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HESSE_REDIS_URL: '' } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((ok, fail) => {
    child.on('error', fail);
    child.on('close', (code) => ok({ ms: performance.now() - t, code, lastLine: stderr.trim().split('\n').at(-1) ?? '' }));
  });
}

export async function benchClusterUnreachable(): Promise<void> {
  const trials = envInt('HESSE_BENCH_UNREACHABLE_TRIALS', 5);
  const port = await closedPort();
  const url = `redis://127.0.0.1:${port}`;
  console.log(`\ncluster, Redis unreachable (${url}, connection refused): time until the coordinator reports it and stops, ${trials} trials`);

  const model = resnet({ depth: 8, width: 2, seed: 1 });
  const dataset = synthetic({ n: 16, seed: 1 });
  const remoteSpec = { kind: 'synthetic' as const, n: 16, seed: 1, classes: 10, split: 'train' as const };
  const library: number[] = [];
  let libraryError = '';
  for (let t = 0; t < trials; t++) {
    const t0 = performance.now();
    const err = await clusterExecutor({ model, dataset, plan: { batchSize: 8, shards: [{ start: 0, end: 16 }] } }, { redisUrl: url, remoteSpec }).then(
      async (ex) => (await ex.close(), new Error('it connected: something listens on the port')),
      (e: unknown) => e as Error,
    );
    library.push(performance.now() - t0);
    libraryError = `${err.name}: ${err.message}`;
  }
  console.log(`  clusterExecutor() rejects               ${summary(library, 1)}`);
  console.log(`    ${libraryError}`);

  const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
  const dir = await mkdtemp(join(tmpdir(), 'hesse-bench-unreachable-'));
  try {
    const file = join(dir, 'r8.safetensors');
    await saveModel(file, model);
    const args = ['analyze', '--model', file, '--data', 'synthetic:16', '--batch', '8', '--full-dataset', '--cluster', url, '--trace', '--out', join(dir, 'out'), '--quiet', '--no-png'];
    const version = await runCli(cli, ['--version']);
    const runs: { ms: number; code: number | null; lastLine: string }[] = [];
    for (let t = 0; t < trials; t++) runs.push(await runCli(cli, args));
    console.log(`  hesse analyze --cluster exits           ${summary(runs.map((r) => r.ms))}  exit codes ${[...new Set(runs.map((r) => r.code))].join(', ')}`);
    console.log(`  hesse --version, for the start-up cost  ${version.ms.toFixed(0).padStart(13)} ms  (one run)`);
    console.log(`    ${runs.at(-1)!.lastLine}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await benchClusterUnreachable();

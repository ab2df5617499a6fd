/**
 * A coordinator in a process of its own, for the test that kills one: it computes products on a
 * cluster run until it is killed, saying on stdout when its run is up and after each product.
 * Run as: node --import tsx coordinatorProcess.ts '{"url": ..., "run": ..., "data": FILE, "ttlMs": ..., "heartbeatMs": ...}'
 */
import { loadTensorDataset } from '../../src/io/index.js';
import { clusterExecutor } from '../../src/parallel/index.js';
import { randomVector, tinyResNet } from './clusterHelpers.js';

const cfg = JSON.parse(process.argv[2]!) as { url: string; run: string; data: string; ttlMs: number; heartbeatMs: number };
const dataset = await loadTensorDataset(cfg.data);
const model = tinyResNet(11);
const plan = { batchSize: 4, shards: [{ start: 0, end: 16 }, { start: 16, end: 32 }] };
const ex = await clusterExecutor({ model, dataset, plan }, { redisUrl: cfg.url, runName: cfg.run, runTtlMs: cfg.ttlMs, heartbeatMs: cfg.heartbeatMs, workerTimeoutMs: 600_000 });
process.stdout.write(JSON.stringify({ type: 'ready', runId: ex.runId }) + '\n');
for (let i = 0; ; i++) {
  // new weights each time, so that every product computes its primal passes and takes a while
  await ex.setWeights(Float32Array.from(model.theta, (t, j) => t + 0.01 * Math.sin(i + j)));
  await ex.products([randomVector(model.size, i)]);
  process.stdout.write(JSON.stringify({ type: 'product', i }) + '\n');
}

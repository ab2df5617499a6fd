/**
 * The body of a local worker thread (run by piscina): it holds a ShardWorkspace, loads each model
 * once and each dataset from its spec once, and answers product and loss requests for the shards
 * pinned to it. Vectors and weights arrive as SharedArrayBuffers (no copy); product sums leave as
 * transferred buffers (no copy).
 */
import { workerData } from 'node:worker_threads';
import { move } from 'piscina';
import type { AnyDataset, DatasetSpec } from '../data/index.js';
import { openDataset } from '../io/index.js';
import { HesseError } from '../errors.js';
import { decodeModelBlob } from './modelBlob.js';
import { ShardWorkspace } from './shardWorkspace.js';
import { HESSE_ERROR_MARK, NO_MODEL, type ThreadRequest } from './threadProtocol.js';

const cacheBytes = (workerData as { cacheBytes?: number } | undefined)?.cacheBytes ?? 2 ** 30;
const workspace = new ShardWorkspace(cacheBytes);
const datasets = new Map<string, Promise<AnyDataset>>();

function dataset(spec: DatasetSpec): Promise<AnyDataset> {
  const key = JSON.stringify(spec);
  let d = datasets.get(key);
  if (!d) {
    d = openDataset(spec);
    datasets.set(key, d);
    d.catch(() => datasets.delete(key));
    // a long-lived cluster worker meets one dataset per run: keep the two latest
    while (datasets.size > 2) datasets.delete(datasets.keys().next().value!);
  }
  return d;
}

function requireModel(hash: string): void {
  if (!workspace.hasModel(hash)) throw new Error(`${NO_MODEL}: ${hash}`);
}

export default async function handle(req: ThreadRequest): Promise<unknown> {
  try {
    return await serve(req);
  } catch (e) {
    if (e instanceof HesseError) throw new Error(`${HESSE_ERROR_MARK}${e.name}: ${e.message}`);
    throw e;
  }
}

async function serve(req: ThreadRequest): Promise<unknown> {
  switch (req.op) {
    case 'model':
      if (!workspace.hasModel(req.hash)) workspace.addModel(req.hash, decodeModelBlob(req.bytes, 'the model sent to a worker thread', req.hash));
      return workspace.modelSize(req.hash);
    case 'product': {
      requireModel(req.task.modelHash);
      const d = await dataset(req.spec);
      const n = req.theta.buffer.byteLength / 4;
      const all = new Float32Array(req.vectors, 0, req.k * n);
      const vs = Array.from({ length: req.k }, (_, j) => all.subarray(j * n, (j + 1) * n));
      const r = workspace.product(d, req.task, { id: req.theta.id, data: new Float32Array(req.theta.buffer) }, vs);
      // piscina transfers only a top-level moved value
      return move(r.sums);
    }
    case 'loss': {
      requireModel(req.task.modelHash);
      const d = await dataset(req.spec);
      return workspace.evaluate(d, req.task, new Float32Array(req.theta));
    }
    case 'stats':
      return { ...workspace.stats, bytesCached: workspace.bytesCached };
  }
}

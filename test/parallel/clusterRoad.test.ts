import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openModelAndData } from '../../src/api/modelAndData.js';
import { curvatureOperator, inProcessExecutor, planShards } from '../../src/curvature/index.js';
import { synthetic } from '../../src/data/index.js';
import { writeSafetensors } from '../../src/io/index.js';
import { resnet, type Model } from '../../src/nn/index.js';
import { clusterExecutor } from '../../src/parallel/index.js';
import { expectOneRoad, expectSameProducts, saveRoadModel, type Place } from '../api/roadCheck.js';
import { Rng } from '../../src/tensor/index.js';
import { relativeError } from '../helpers/fixtures.js';
import { onnxCase } from '../helpers/onnxFixtures.js';
import { redisAnswers, redisRequired, SHARED_URL, startWorker, stopWorkers, type WorkerProcess } from './clusterHelpers.js';

const redisUp = await redisAnswers(SHARED_URL);
const run = `road-${process.pid}`;
const cluster: Place = {
  name: 'a Redis cluster of two workers',
  flags: ['--cluster', SHARED_URL, '--run', run],
  library: { cluster: { redisUrl: SHARED_URL, runName: run } },
  place: (p) => clusterExecutor(p, { redisUrl: SHARED_URL, runName: run }),
};

describe.skipIf(!redisUp && !redisRequired)('the cluster is the same road as this thread (Redis on 127.0.0.1:6379)', () => {
  let workers: WorkerProcess[] = [];
  let root = '';
  beforeAll(async () => {
    expect(redisUp, 'Redis must answer on 127.0.0.1:6379 (HESSE_REQUIRE_REDIS=1)').toBe(true);
    await saveRoadModel();
    // the synthetic set has a spec the workers rebuild themselves: no files to share, an empty root
    root = mkdtempSync(join(tmpdir(), 'hesse-road-root-'));
    workers = [0, 1].map(() => startWorker({ url: SHARED_URL, run, root }));
  });
  afterAll(() => stopWorkers(workers));

  it('hesse analyze --full-dataset --cluster and the library on the cluster: the same numbers to the last bit', () => expectOneRoad(cluster));
  it("the cluster's products equal this thread's to the last bit for the same shards", () =>
    expectSameProducts([{ name: 'this thread', flags: [], library: {}, place: inProcessExecutor }, cluster]));

  it('computes at the weights it was built with: changes made in place to the model while it starts, or after, do not reach it', async () => {
    const fresh = () => {
      const m = resnet({ depth: 8, width: 2, seed: 3 });
      // non-trivial running statistics, so that eval-mode BN depends on them
      for (const [name, t] of m.buffers) t.data.fill(name.endsWith('running_var') ? 1.4 : 0.1);
      return m;
    };
    const change = (m: Model, scale: number, fill: number) => {
      for (let i = 0; i < m.theta.length; i++) m.theta[i] = m.theta[i]! * scale + 0.01;
      for (const t of m.buffers.values()) t.data.fill(fill);
    };
    const data = synthetic({ n: 10, seed: 4 });
    const plan = planShards(10, { batchSize: 4, shards: 2 });
    const v = new Rng(13).fillNormal(new Float32Array(fresh().size)) as Float32Array;
    const model = fresh();
    const starting = curvatureOperator(model, { dataset: data, plan }, { place: cluster.place });
    // the run is still connecting to Redis and uploading the model
    change(model, 1.5, 2);
    const op = await starting;
    try {
      const first = await op.matvec(v);
      change(model, 0.5, 3);
      const second = await op.matvec(v);
      // the oracle: this thread's operator on an untouched copy of the model
      const atOld = await (await curvatureOperator(fresh(), { dataset: data, plan })).matvec(v);
      const atNew = await (await curvatureOperator(model, { dataset: data, plan })).matvec(v);
      expect(Array.from(first)).toEqual(Array.from(atOld));
      expect(Array.from(second)).toEqual(Array.from(atOld));
      // the changes are large enough to matter: at the changed weights the product is far off
      expect(relativeError(atNew, atOld)).toBeGreaterThan(0.05);
    } finally {
      await op.close();
    }
  });

  it('an imported decoder on padded token data with an ignore index: the products of this thread to the last bit', async () => {
    const c = await onnxCase('decoder');
    const data = join(root, 'tokens.safetensors');
    await writeSafetensors(data, { x: c.file.tensors.get('input.x')!, y: c.file.tensors.get('target.y')! });
    const { model, dataset } = await openModelAndData({ model: c.onnxPath, data });
    const plan = planShards(dataset.length, { batchSize: 1, shards: 2 });
    const rng = new Rng(5);
    const vs = [0, 1].map(() => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
    const got: { products: Float32Array[]; loss: number }[] = [];
    for (const place of [inProcessExecutor, cluster.place]) {
      const op = await curvatureOperator(model, { dataset, normalize: null, plan }, { place, ignoreIndex: -100 });
      try {
        got.push({ products: await op.matmat!(vs), loss: (await op.executor.losses()).loss });
      } finally {
        await op.close();
      }
    }
    got[0]!.products.forEach((p, j) => expect(Array.from(got[1]!.products[j]!)).toEqual(Array.from(p)));
    expect(got[1]!.loss).toBe(got[0]!.loss);
    // the data pads with -100, which without the ignore index is a label outside the outputs and fails in the workers
    expect(Number.isFinite(got[0]!.loss)).toBe(true);
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetHessianOperator } from '../../src/curvature/index.js';
import { ImageDataset, synthetic, type Dataset } from '../../src/data/index.js';
import { loadTensorDataset, saveTensorDataset } from '../../src/io/index.js';
import { evaluateBatch, resnet, type Model } from '../../src/nn/index.js';
import { assignShards, createExecutor, inProcessExecutor, threadExecutor } from '../../src/parallel/index.js';
import { executorOperator, planBatchSource, planShards, type ShardPlan } from '../../src/curvature/index.js';
import { Rng } from '../../src/tensor/index.js';
import { relativeError } from '../helpers/fixtures.js';

const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
// unequal shards, none a multiple of the batch size
const plan: ShardPlan = { batchSize: 6, shards: [{ start: 0, end: 7 }, { start: 7, end: 25 }, { start: 25, end: 36 }] };

function vectors(n: number, k: number, seed: number): Float32Array[] {
  const rng = new Rng(seed);
  return Array.from({ length: k }, () => rng.fillNormal(new Float32Array(n)) as Float32Array);
}

function tinyResNet(seed: number): Model {
  const m = resnet({ depth: 8, width: 4, classes: 4, seed });
  // non-trivial running statistics, so eval-mode BN is not the identity
  for (const [name, t] of m.buffers) t.data.fill(name.endsWith('running_var') ? 1.3 : 0.05);
  return m;
}

function smallImages(n: number, seed: number): ImageDataset {
  const rng = new Rng(seed);
  const pixels = Uint8Array.from({ length: n * 3 * 8 * 8 }, () => rng.int(256));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  return new ImageDataset({ name: 'small', pixels, labels, channels: 3, height: 8, width: 8, classes: 4 });
}

async function reference(model: Model, dataset: Dataset, vs: Float32Array[], opts: { kind: 'hessian' | 'ggn'; bnMode: 'eval' | 'train' }) {
  const op = datasetHessianOperator(model, planBatchSource(dataset, plan, norm), opts);
  return op.matmat!(vs);
}

describe('worker-thread executor', () => {
  let dir: string;
  let fileSet: Dataset;
  const synth = synthetic({ n: 36, seed: 3, classes: 4 });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hesse-parallel-'));
    // 8x8 images keep the products cheap; the ResNet takes any height and width
    await saveTensorDataset(join(dir, 'set.safetensors'), smallImages(36, 11));
    fileSet = await loadTensorDataset(join(dir, 'set.safetensors'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the in-process products for unequal shards (Hessian, eval BN)', async () => {
    const model = tinyResNet(1);
    const vs = vectors(model.size, 3, 7);
    const ref = await reference(model, fileSet, vs, { kind: 'hessian', bnMode: 'eval' });
    const ex = await threadExecutor({ model, dataset: fileSet, normalize: norm, plan, maxBlock: 2 }, { workers: 2 });
    try {
      const got = await ex.products(vs);
      const again = await ex.products(vs);
      for (let j = 0; j < vs.length; j++) {
        expect(relativeError(got[j]!, ref[j]!)).toBeLessThan(1e-5);
        // cached primal passes and any finishing order give the very same sums
        expect(Array.from(again[j]!)).toEqual(Array.from(got[j]!));
      }
      expect(ex.info.samples).toBe(36);
      expect(ex.info.batches).toBe(2 + 3 + 2);
      // the same products through the LinearOperator every algorithm talks to, counted in one place
      expect(ex.stats.products).toBe(2 * vs.length);
      const op = executorOperator(ex);
      expect(relativeError(await op.matvec(vs[1]!), ref[1]!)).toBeLessThan(1e-5);
      expect(op.stats.products).toBe(2 * vs.length + 1);
      expect(ex.stats.products).toBe(2 * vs.length + 1);
      expect(op.info.samples).toBe(36);
    } finally {
      await ex.close();
    }
  });

  it('gives the in-process products for GGN with train-mode BN on a dataset file, and follows setWeights', async () => {
    const model = tinyResNet(2);
    const vs = vectors(model.size, 2, 8);
    const opts = { kind: 'ggn' as const, bnMode: 'train' as const };
    const ex = await threadExecutor({ model, dataset: fileSet, normalize: norm, plan, ...opts }, { workers: 2 });
    const local = inProcessExecutor({ model, dataset: fileSet, normalize: norm, plan, ...opts });
    try {
      const ref = await reference(model, fileSet, vs, opts);
      const got = await ex.products(vs);
      const mine = await local.products(vs);
      for (let j = 0; j < vs.length; j++) {
        expect(relativeError(got[j]!, ref[j]!)).toBeLessThan(1e-5);
        expect(relativeError(mine[j]!, ref[j]!)).toBeLessThan(1e-5);
      }
      // new weights: the executors' products must follow, and the caller's model must not move
      const before = Float32Array.from(model.theta);
      const moved = Float32Array.from(model.theta, (t, i) => t + 0.05 * Math.sin(i));
      await ex.setWeights(moved);
      await local.setWeights(moved);
      expect(Array.from(model.theta)).toEqual(Array.from(before));
      const other = tinyResNet(2);
      other.theta.set(moved);
      const ref2 = await reference(other, fileSet, vs, opts);
      const got2 = await ex.products(vs);
      const mine2 = await local.products(vs);
      expect(relativeError(got2[0]!, ref[0]!)).toBeGreaterThan(1e-3);
      for (let j = 0; j < vs.length; j++) {
        expect(relativeError(got2[j]!, ref2[j]!)).toBeLessThan(1e-5);
        expect(relativeError(mine2[j]!, ref2[j]!)).toBeLessThan(1e-5);
      }
    } finally {
      await ex.close();
      await local.close();
    }
  });

  it('takes its snapshot of the weights and buffers when called: changes made in place while the threads start do not reach it', async () => {
    const model = tinyResNet(7);
    const vs = vectors(model.size, 1, 14);
    const ref = await reference(tinyResNet(7), fileSet, vs, { kind: 'hessian', bnMode: 'eval' });
    const starting = threadExecutor({ model, dataset: fileSet, normalize: norm, plan }, { workers: 2 });
    // the threads are still loading the model: change the weights and BN statistics now
    for (let i = 0; i < model.theta.length; i++) model.theta[i] = model.theta[i]! * 1.5 + 0.01;
    for (const [name, t] of model.buffers) t.data.fill(name.endsWith('running_var') ? 2 : 0.3);
    const ex = await starting;
    try {
      const got = await ex.products(vs);
      const atNew = await reference(model, fileSet, vs, { kind: 'hessian', bnMode: 'eval' });
      expect(relativeError(got[0]!, ref[0]!)).toBeLessThan(1e-5);
      // the change matters: at the new weights the product is far off
      expect(relativeError(atNew[0]!, ref[0]!)).toBeGreaterThan(0.05);
    } finally {
      await ex.close();
    }
  });

  it('evaluates the dataset loss and accuracy at given weights (a synthetic set loaded from its spec)', async () => {
    const model = tinyResNet(4);
    const ex = await threadExecutor({ model, dataset: synth, normalize: norm, plan }, { workers: 2 });
    try {
      const theta = Float32Array.from(model.theta, (t, i) => t * (1 + 0.1 * Math.cos(i)));
      let loss = 0, correct = 0;
      for (const batch of planBatchSource(synth, plan, norm).batches()) {
        const r = evaluateBatch(model, batch, { theta });
        loss += r.loss * r.samples;
        correct += r.accuracy * r.samples;
      }
      const got = await ex.losses(theta);
      expect(got.samples).toBe(36);
      expect(Math.abs(got.loss - loss / 36)).toBeLessThan(1e-6 * Math.abs(loss / 36));
      expect(got.accuracy).toBeCloseTo(correct / 36, 12);
    } finally {
      await ex.close();
    }
  });

  it('picks this thread for --workers 1 and for a dataset without a spec', async () => {
    const model = tinyResNet(6);
    const bare = new ImageDataset({ name: 'bare', pixels: smallImages(36, 11).pixels, labels: smallImages(36, 11).labels(), channels: 3, height: 8, width: 8, classes: 4 });
    const v = vectors(model.size, 1, 12);
    const ref = await reference(model, bare, v, { kind: 'hessian', bnMode: 'eval' });
    for (const ex of [await createExecutor({ model, dataset: bare, normalize: norm, plan }), await createExecutor({ model, dataset: fileSet, normalize: norm, plan }, { workers: 1 })]) {
      expect(relativeError((await ex.products(v))[0]!, ref[0]!)).toBeLessThan(1e-5);
      await ex.close();
    }
  });

  it('refuses an in-memory dataset with a message that says what to do', async () => {
    const d = synth;
    const bare = new ImageDataset({ name: 'bare', pixels: d.pixels, labels: d.labels(), channels: 3, height: 32, width: 32, classes: 4 });
    await expect(threadExecutor({ model: tinyResNet(1), dataset: bare, plan }, { workers: 2 })).rejects.toThrow(/saveTensorDataset/);
  });
});

describe('shard plans', () => {
  it('cuts on batch boundaries into nearly equal shards', () => {
    const p = planShards(100, { batchSize: 8, shards: 3 });
    expect(p.shards).toEqual([{ start: 0, end: 32 }, { start: 32, end: 64 }, { start: 64, end: 100 }]);
    expect(planShards(10, { batchSize: 8, shards: 5 }).shards).toEqual([{ start: 0, end: 8 }, { start: 8, end: 10 }]);
  });

  it('balances samples over workers', () => {
    const owner = assignShards([{ start: 0, end: 10 }, { start: 10, end: 13 }, { start: 13, end: 20 }, { start: 20, end: 24 }], 2);
    const load = [0, 0];
    owner.forEach((w, s) => (load[w] += [10, 3, 7, 4][s]!));
    expect(Math.max(...load)).toBe(13); // the best split of 10, 3, 7, 4 over two
  });

  it('rejects overlapping or out-of-range shards', () => {
    const model = tinyResNet(1);
    const d = synthetic({ n: 10, seed: 1, classes: 4 });
    expect(() => inProcessExecutor({ model, dataset: d, plan: { batchSize: 4, shards: [{ start: 0, end: 6 }, { start: 5, end: 10 }] } })).toThrow(/overlaps/);
    expect(() => inProcessExecutor({ model, dataset: d, plan: { batchSize: 4, shards: [{ start: 0, end: 11 }] } })).toThrow(/inside/);
  });
});

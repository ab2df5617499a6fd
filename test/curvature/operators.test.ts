import { describe, expect, it } from 'vitest';
import { valueAndGrad } from '../../src/autodiff/index.js';
import { curvatureOperator, datasetHessianOperator, hessianOperator, planShards, restrictOperator, selectBlocks, layerGroups, type CurvatureOperator } from '../../src/curvature/index.js';
import { synthetic } from '../../src/data/index.js';
import { take } from '../../src/ops/index.js';
import { lossAndGradient, mlp, resnet, type Batch, type Model } from '../../src/nn/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { relativeError } from '../helpers/fixtures.js';

function randomBatch(n: number, shape: number[], classes: number, seed: number): Batch {
  const rng = new Rng(seed);
  const size = n * shape.reduce((p, d) => p * d, 1);
  return {
    x: new Tensor([n, ...shape], rng.fillNormal(new Float32Array(size)) as Float32Array),
    y: Int32Array.from({ length: n }, () => rng.int(classes)),
  };
}

async function denseOf(op: { size: number; matmat?: (vs: Float32Array[]) => Promise<Float32Array[]> }): Promise<Float64Array> {
  const n = op.size;
  const cols = await op.matmat!(Array.from({ length: n }, (_, i) => {
    const e = new Float32Array(n);
    e[i] = 1;
    return e;
  }));
  const H = new Float64Array(n * n);
  cols.forEach((c, j) => c.forEach((v, i) => (H[i * n + j] = v)));
  return H;
}

function concat(a: Batch, b: Batch): Batch {
  const x = new Float32Array(a.x.size + b.x.size);
  x.set(a.x.data);
  x.set(b.x.data, a.x.size);
  const y = new Int32Array(a.y.length + b.y.length);
  y.set(a.y);
  y.set(b.y, a.y.length);
  return { x: new Tensor([a.y.length + b.y.length, ...a.x.shape.slice(1)], x), y };
}

/** Jᵀ·H_L·J built densely in float64: J from one gradient per logit, H_L of the mean cross-entropy. */
function denseGgn(model: Model, batch: Batch): Float64Array {
  const n = model.size;
  const { logits } = lossAndGradient(model, batch);
  const [N, C] = logits.shape as [number, number];
  const J: Float32Array[] = [];
  for (let r = 0; r < N * C; r++) {
    J.push(valueAndGrad(model.theta, model.shapes, (p) => take(model.forward(p, batch.x, 'eval').logits, Int32Array.of(r), [1])).gradient);
  }
  const G = new Float64Array(n * n);
  for (let s = 0; s < N; s++) {
    const row = Array.from({ length: C }, (_, c) => logits.data[s * C + c]!);
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    const p = e.map((v) => v / z);
    for (let a = 0; a < C; a++) {
      for (let b = 0; b < C; b++) {
        const h = ((a === b ? p[a]! : 0) - p[a]! * p[b]!) / N;
        if (h === 0) continue;
        const ja = J[s * C + a]!, jb = J[s * C + b]!;
        for (let i = 0; i < n; i++) {
          const x = h * ja[i]!;
          for (let j = 0; j < n; j++) G[i * n + j] += x * jb[j]!;
        }
      }
    }
  }
  return G;
}

describe('curvature operators', () => {
  it('GGN equals Jᵀ H_L J built densely, and is positive semi-definite', async () => {
    const model = mlp({ sizes: [4, 5, 3], activation: 'tanh', seed: 2 });
    const batch = randomBatch(6, [4], 3, 3);
    const op = hessianOperator(model, batch, { kind: 'ggn' });
    const G = await denseOf(op);
    expect(relativeError(G, denseGgn(model, batch))).toBeLessThan(1e-5);
    const rng = new Rng(4);
    for (let t = 0; t < 20; t++) {
      const v = rng.fillNormal(new Float32Array(model.size)) as Float32Array;
      const gv = await op.matvec(v);
      expect(gv.reduce((s, x, i) => s + x * v[i]!, 0)).toBeGreaterThanOrEqual(-1e-6);
    }
    // the GGN differs from the Hessian for a non-linear network
    const H = await denseOf(hessianOperator(model, batch));
    expect(relativeError(G, H)).toBeGreaterThan(1e-2);
    expect(op.stats.products).toBe(model.size + 20);
  });

  it('the dataset operator is the batch-size-weighted mean: equal to one batch holding every sample', async () => {
    const model = resnet({ depth: 8, width: 2, seed: 1 });
    const a = randomBatch(3, [3, 6, 6], 10, 5);
    const b = randomBatch(5, [3, 6, 6], 10, 6);
    const whole = hessianOperator(model, concat(a, b));
    for (const cacheBytes of [0, 2 ** 30]) {
      const ds = datasetHessianOperator(model, { batches: () => [a, b] }, { cacheBytes });
      expect(ds.info.samples).toBe(8);
      const rng = new Rng(7);
      const vs = [0, 1, 2].map(() => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
      const got = await ds.matmat!(vs);
      const want = await whole.matmat!(vs);
      got.forEach((g, i) => expect(relativeError(g, want[i]!)).toBeLessThan(1e-5));
    }
  });

  it('restriction to parameter blocks is the principal submatrix', async () => {
    const model = mlp({ sizes: [3, 4, 2], activation: 'gelu', seed: 5 });
    const batch = randomBatch(5, [3], 2, 8);
    const op = hessianOperator(model, batch);
    const H = await denseOf(op);
    const blocks = selectBlocks(model.blocks, 'layers.1');
    expect(blocks.map((b) => b.name)).toEqual(['layers.1.weight', 'layers.1.bias']);
    const sub = restrictOperator(op, blocks);
    expect(sub.size).toBe(10);
    const S = await denseOf(sub);
    const idx = blocks.flatMap((b) => Array.from({ length: b.length }, (_, i) => b.offset + i));
    const want = new Float64Array(idx.length * idx.length);
    idx.forEach((r, i) => idx.forEach((c, j) => (want[i * idx.length + j] = H[r * model.size + c]!)));
    expect(relativeError(S, want)).toBeLessThan(1e-6);
    expect(sub.info.blocks).toEqual(['layers.1.weight', 'layers.1.bias']);
  });

  it('selects blocks by kind, prefix and pattern, and says what names exist when nothing matches', () => {
    const m = resnet({ depth: 8, width: 2 });
    expect(selectBlocks(m.blocks, 'bn').every((b) => b.kind.startsWith('bn.'))).toBe(true);
    expect(selectBlocks(m.blocks, 'layer2').every((b) => b.name.startsWith('layer2.'))).toBe(true);
    expect(selectBlocks(m.blocks, 'layer*.conv1.weight').map((b) => b.name)).toEqual(['layer1.0.conv1.weight', 'layer2.0.conv1.weight', 'layer3.0.conv1.weight']);
    expect(() => selectBlocks(m.blocks, 'layer9')).toThrow(/no parameters match 'layer9'.*conv1.weight/);
    expect(layerGroups(m.blocks).map((g) => g.name).slice(0, 3)).toEqual(['conv1', 'bn1', 'layer1.0.conv1']);
  });

  it('an operator computes at the weights it was built for: in-place changes to the model do not reach it', async () => {
    const fresh = () => {
      const m = resnet({ depth: 8, width: 2, seed: 3 });
      // non-trivial running statistics, so that eval-mode BN depends on them
      for (const [name, t] of m.buffers) t.data.fill(name.endsWith('running_var') ? 1.4 : 0.1);
      return m;
    };
    const a = randomBatch(3, [3, 6, 6], 10, 11);
    const b = randomBatch(4, [3, 6, 6], 10, 12);
    const data = synthetic({ n: 10, seed: 4 });
    const builders: [string, (m: Model) => Promise<CurvatureOperator> | CurvatureOperator][] = [
      ['one batch', (m) => hessianOperator(m, a)],
      // no cache: every product records the passes again, where the live weights would leak in
      ['a batch source', (m) => datasetHessianOperator(m, { batches: () => [a, b] }, { cacheBytes: 0 })],
      ['a sharded dataset', (m) => curvatureOperator(m, { dataset: data, plan: planShards(10, { batchSize: 4, shards: 2 }) })],
    ];
    const v = new Rng(13).fillNormal(new Float32Array(fresh().size)) as Float32Array;
    for (const [what, build] of builders) {
      const model = fresh();
      const op = await build(model);
      const before = await op.matvec(v);
      for (let i = 0; i < model.theta.length; i++) model.theta[i] = model.theta[i]! * 1.5 + 0.01;
      for (const t of model.buffers.values()) t.data.fill(2);
      const after = await op.matvec(v);
      const atOld = await (await build(fresh())).matvec(v);
      const atNew = await (await build(model)).matvec(v);
      expect(Array.from(after), what).toEqual(Array.from(atOld));
      expect(Array.from(before), what).toEqual(Array.from(atOld));
      // the change is large enough to matter: at the new weights the products are far off
      expect(relativeError(atNew, atOld), what).toBeGreaterThan(0.05);
    }
  });
});

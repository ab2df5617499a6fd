import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/api/analyze.js';
import { redactCredentials } from '../../src/parallel/index.js';
import { landscapeRun } from '../../src/api/landscapeRun.js';
import { hessianOperator, inProcessExecutor, type ExecutorFactory, type ShardExecutor } from '../../src/curvature/index.js';
import { hessianBatch, ImageDataset, synthetic, type Dataset } from '../../src/data/index.js';
import { NonFiniteError, OptionError } from '../../src/errors.js';
import { symmetricEigen, xtrace } from '../../src/linalg/index.js';
import { mlp, resnet, type Model } from '../../src/nn/index.js';
import { ClusterError } from '../../src/parallel/index.js';
import { createResults, writeReport } from '../../src/report/index.js';
import { Rng } from '../../src/tensor/index.js';

/** 12 features (3x2x2 images), 3 classes: an MLP on them has 35 parameters, so dense checks are cheap. */
function tinySet(n: number, seed: number): Dataset {
  const rng = new Rng(seed);
  return new ImageDataset({ name: 'tiny', pixels: Uint8Array.from({ length: n * 12 }, () => rng.int(256)), labels: Int32Array.from({ length: n }, (_, i) => i % 3), channels: 3, height: 2, width: 2, classes: 3 });
}
const tinyModel = () => mlp({ sizes: [12, 2, 3], activation: 'tanh', seed: 4 });

/** A place that counts the executors made and their products, and fails with a ClusterError after `failAfter` products. */
function countingPlace(failAfter = Infinity): { place: ExecutorFactory; made: number; products: number } {
  const state = { made: 0, products: 0, place: ((p) => {
    state.made++;
    const inner = inProcessExecutor(p);
    const ex: ShardExecutor = {
      ...inner,
      size: inner.size,
      info: inner.info,
      stats: inner.stats,
      async products(vs) {
        if (state.products + vs.length > failAfter) throw new ClusterError('Redis at redis://127.0.0.1:1 is unreachable for good');
        state.products += vs.length;
        return inner.products(vs);
      },
    };
    return ex;
  }) as ExecutorFactory };
  return state;
}

describe('analyze (the library operation)', () => {
  it('checks every option before the first product, naming the option in its own words', async () => {
    const counted = countingPlace();
    const base = { model: tinyModel(), dataset: tinySet(12, 1), normalize: null, fullDataset: true, place: counted.place, eigen: { k: 2 } };
    await expect(analyze({ ...base, density: { steps: 0 } })).rejects.toThrow(/number of Lanczos steps of the density must be an integer of at least 1, got 0/);
    await expect(analyze({ ...base, trace: { method: 'hutch+' as 'hutch++' } })).rejects.toThrow(/trace method must be one of hutchinson, hutch\+\+, xtrace, got 'hutch\+'/);
    await expect(analyze({ ...base, curvature: { bnMode: 'sometimes' as 'eval' } })).rejects.toThrow(/BN mode must be 'eval' or 'train', got 'sometimes'/);
    await expect(analyze({ ...base, trace: { targetRse: 0 } })).rejects.toThrow(/relative standard error of the trace must be a number above 0 and below 1, got 0/);
    await expect(analyze({ ...base, trace: { targetRse: 1.5 } })).rejects.toThrow(/relative standard error.*got 1\.5/);
    await expect(analyze({ ...base, trace: { targetRse: Number.NaN } })).rejects.toThrow(/relative standard error.*got NaN/);
    await expect(analyze({ ...base, trace: { method: 'hutch++', targetRse: 0.01 } })).rejects.toThrow(/Hutchinson estimator, not hutch\+\+/);
    await expect(analyze({ ...base, trace: { tol: 1e-3, targetRse: 0.01 } })).rejects.toThrow(/one stopping rule/);
    await expect(analyze({ ...base, fullDataset: false })).rejects.toThrow(/whole dataset/);
    for (const e of await Promise.all([analyze({ ...base, density: { steps: 0 } }).catch((x: unknown) => x)])) {
      expect(e).toBeInstanceOf(OptionError);
      // library errors do not speak of command-line flags
      expect((e as Error).message).not.toMatch(/--/);
    }
    expect(counted.made).toBe(0);
    expect(counted.products).toBe(0);
  });

  it('records the Lanczos steps that ran when more are asked for than the model has parameters', async () => {
    const model = tinyModel();
    expect(model.size).toBe(35);
    const { results } = await analyze({ model, dataset: tinySet(12, 2), normalize: null, density: { steps: 100 } });
    expect(results.options.densitySteps).toBe(100);
    const d = results.results.density!;
    // one step per parameter: a Krylov space that closes early restarts orthogonally, so all 35 run
    expect(d.steps).toBe(35);
    expect(d.steps).toBe(Math.max(...d.nodes.map((n) => n.length)));
    expect(results.products.density).toBe(d.steps);
  });

  it('reaches XTrace, which is exact once its sketch spans the parameters', async () => {
    const model = tinyModel();
    const dataset = tinySet(12, 3);
    const { results } = await analyze({ model, dataset, normalize: null, batch: 12, trace: { method: 'xtrace', products: 80 }, seed: 5 });
    expect(results.options.traceMethod).toBe('xtrace');
    expect(results.results.trace!.method).toBe('XTrace');
    expect(results.options.traceProducts).toBe(80);
    // 40 probes, then one product per direction of their sketch: at most 40 more (fewer when the Hessian's rank is lower)
    expect(results.results.trace!.products).toBeGreaterThan(40);
    expect(results.results.trace!.products).toBeLessThanOrEqual(80);
    // the trace from the diagonal of the dense Hessian (one product per unit vector)
    const op = hessianOperator(model, hessianBatch(dataset, 12, null));
    const cols = await op.matmat!(Array.from({ length: model.size }, (_, i) => Float32Array.from({ length: model.size }, (_, j) => (i === j ? 1 : 0))));
    const exact = cols.reduce((s, c, i) => s + c[i]!, 0);
    expect(Math.abs(results.results.trace!.estimate - exact)).toBeLessThan(1e-5 * Math.abs(exact));
    // the operation's estimate is XTrace's own on the same operator and seed
    const direct = await xtrace(hessianOperator(model, hessianBatch(dataset, 12, null)), { products: 80, seed: 5 });
    expect(results.results.trace!.estimate).toBe(direct.estimate);
    // an odd budget is rounded down to XTrace's even one
    const odd = await analyze({ model, dataset, normalize: null, batch: 12, trace: { method: 'xtrace', products: 9 } });
    expect(odd.results.options.traceProducts).toBe(8);
    expect(odd.results.results.trace!.products).toBe(8);
  });

  it("records each trace estimator's account of its error bar", async () => {
    const model = tinyModel();
    const dataset = tinySet(12, 3);
    const run = async (trace: Parameters<typeof analyze>[0]['trace']) => (await analyze({ model, dataset, normalize: null, batch: 12, trace, seed: 5 })).results.results.trace!;
    const plusPlus = await run({ method: 'hutch++', products: 30 });
    expect(plusPlus.errorEstimate).toMatch(/residual probes/);
    const h = await run({ products: 20 });
    expect(h.stoppedBy).toBe('probes');
    expect(h.errorEstimate).toBe('standard error of the mean of 20 probes');
    expect(h.relativeStandardError).toBe(h.standardError / Math.abs(h.estimate));
    // XTrace on half the parameters: not exact yet, so its bar and the conservative jackknife beside it
    const x = await run({ method: 'xtrace', products: 16 });
    expect(x.errorEstimate).toMatch(/optimistic/);
    expect(x.jackknifeStandardError).toBeGreaterThan(x.standardError);
  });

  it('records the restarts of the density runs: a Hessian of rank 4 breaks Lanczos down within 5 steps of 20', async () => {
    // a linear softmax classifier on 2 samples of 3 classes: H = (1/N) Σ_s (diag(p_s) − p_s p_sᵀ) ⊗ x_s x_sᵀ has rank at most N·(C − 1) = 4
    const model = mlp({ sizes: [12, 3], activation: 'tanh', seed: 1 });
    const { results } = await analyze({ model, dataset: tinySet(2, 8), normalize: null, batch: 2, density: { steps: 20 }, seed: 2 });
    const d = results.results.density!;
    expect(d.steps).toBe(20);
    expect(d.restarts).toHaveLength(1);
    expect(d.restarts![0]).toBeGreaterThanOrEqual(1);
    // the rest: a model whose Hessian has more distinct eigenvalues than steps runs without a restart
    const full = await analyze({ model: tinyModel(), dataset: tinySet(12, 8), normalize: null, batch: 12, density: { steps: 10, probes: 2 }, seed: 2 });
    expect(full.results.results.density!.restarts).toEqual([0, 0]);
  });

  it('keeps the stages that finished when a cluster is lost for good in a later one', async () => {
    const dataset = tinySet(12, 4);
    const opts = { model: tinyModel(), dataset, normalize: null, fullDataset: true, eigen: { k: 1 }, trace: { products: 8 }, seed: 1 };
    const first = await analyze({ ...opts, trace: false, place: countingPlace().place });
    const eigenProducts = first.results.products.eigen!;
    const failing = countingPlace(eigenProducts + 2);
    const out = await analyze({ ...opts, place: failing.place });
    expect(out.failure).toBeInstanceOf(ClusterError);
    expect(out.results.failed).toEqual({ stage: 'trace', message: 'Redis at redis://127.0.0.1:1 is unreachable for good' });
    expect(out.results.results.eigen!.values).toEqual(first.results.results.eigen!.values);
    expect(out.results.results.trace).toBeUndefined();
  });

  it('computes the default stages when none is asked for, and says so', async () => {
    const notes: string[] = [];
    const { results } = await analyze({ model: tinyModel(), dataset: tinySet(12, 5), normalize: null, onNote: (l) => notes.push(l) });
    // the loss at the weights is always recorded; the estimates are the defaults
    expect(Object.keys(results.results).sort()).toEqual(['density', 'eigen', 'evaluation', 'trace']);
    expect(notes).toEqual([expect.stringMatching(/nothing chosen/)]);
  });

  it('records the parameter count and the loss and accuracy at the analysed weights, on the Hessian batch or the whole dataset', async () => {
    const model = tinyModel();
    const data = tinySet(12, 6);
    // float64 forward of the 12-2-3 tanh MLP, by hand: the oracle
    const W = (name: string) => Float64Array.from(model.param(name).data);
    const [w0, b0, w1, b1] = [W('layers.0.weight'), W('layers.0.bias'), W('layers.1.weight'), W('layers.1.bias')];
    const { x, y } = data.get(Array.from({ length: 12 }, (_, i) => i));
    const perSample = Array.from({ length: 12 }, (_, s) => {
      const h = [0, 1].map((j) => Math.tanh(b0[j]! + Array.from({ length: 12 }, (_, k) => w0[j * 12 + k]! * x.data[s * 12 + k]!).reduce((a, b) => a + b)));
      const z = [0, 1, 2].map((c) => b1[c]! + w1[c * 2]! * h[0]! + w1[c * 2 + 1]! * h[1]!);
      const lse = Math.log(z.reduce((a, v) => a + Math.exp(v), 0));
      return { loss: lse - z[y[s]!]!, correct: z.indexOf(Math.max(...z)) === y[s] ? 1 : 0 };
    });
    const mean = (n: number, f: (r: (typeof perSample)[number]) => number) => perSample.slice(0, n).reduce((a, r) => a + f(r), 0) / n;
    const batch = await analyze({ model, dataset: data, normalize: null, batch: 8, trace: { products: 2 } });
    expect(batch.results.inputs.model.parameters).toBe(35);
    const e = batch.results.results.evaluation!;
    expect(e.samples).toBe(8);
    expect(e.loss).toBeCloseTo(mean(8, (r) => r.loss), 6);
    expect(e.accuracy).toBe(mean(8, (r) => r.correct));
    // batches of 5, 5 and 2, weighted by their sizes: the mean over all 12 samples
    const whole = await analyze({ model, dataset: data, normalize: null, fullDataset: true, workers: 1, datasetBatchSize: 5, trace: { products: 2 } });
    const w = whole.results.results.evaluation!;
    expect(w.samples).toBe(12);
    expect(w.loss).toBeCloseTo(mean(12, (r) => r.loss), 6);
    expect(w.accuracy).toBe(mean(12, (r) => r.correct));
    expect(whole.results.timings.evaluation).toBeGreaterThan(0);
  });

  it('refuses weights whose loss is not finite before any product', async () => {
    const counted = countingPlace();
    const model = tinyModel();
    model.theta[3] = Number.NaN;
    await expect(analyze({ model, dataset: tinySet(12, 1), normalize: null, fullDataset: true, place: counted.place, eigen: { k: 1 } })).rejects.toThrow(/loss at the analysed weights is NaN/);
    expect(counted.products).toBe(0);
  });

  it('records the split the data came from', async () => {
    const model = resnet({ depth: 8, width: 2, seed: 1 });
    for (const split of ['train', 'test'] as const) {
      const { results } = await analyze({ model, dataset: synthetic({ n: 8, seed: 2, split }), normalize: null, batch: 4, eigen: { k: 1 } });
      expect(results.options.split).toBe(split);
    }
  });
});

/** The dense Hessian of the model on the first `batch` samples, one product per unit vector, and its eigenvalues (ascending) and trace. */
async function denseHessian(model: Model, dataset: Dataset, batch: number) {
  const op = hessianOperator(model, hessianBatch(dataset, batch, null));
  const n = model.size;
  const cols = await op.matmat!(Array.from({ length: n }, (_, i) => Float32Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))));
  const a = new Float64Array(n * n);
  cols.forEach((c, j) => c.forEach((x, i) => (a[i * n + j] = x)));
  return { values: symmetricEigen(a, n).values, trace: cols.reduce((s, c, i) => s + c[i]!, 0) };
}

describe('stages sharing work on the same batch', () => {
  const model = tinyModel();
  const dataset = tinySet(12, 9);
  const base = { model, dataset, normalize: null, batch: 12, seed: 3 } as const;

  it("takes the top eigenvalues from the density's Lanczos run, confirmed by one product each", async () => {
    const dense = await denseHessian(model, dataset, 12);
    const top = [dense.values.at(-1)!, dense.values.at(-2)!];
    const { results } = await analyze({ ...base, eigen: { k: 2 }, density: { steps: 30 } });
    const e = results.results.eigen!;
    expect(results.options.share).toBe(true);
    expect(e.reuses).toMatch(/density's Lanczos run \(30 steps\)/);
    expect(e.products).toBe(2);
    expect(results.products.density).toBe(30);
    // float32 products of a float64 oracle: eigenvalues to 1e-6 of the largest
    for (let i = 0; i < 2; i++) expect(Math.abs(e.values[i]! - top[i]!)).toBeLessThan(1e-6 * Math.abs(top[0]!));
    expect(e.converged).toBe(true);
    // without sharing: a Lanczos run of its own, the same eigenvalues, more products
    const alone = await analyze({ ...base, eigen: { k: 2 }, density: { steps: 30 }, share: false });
    expect(alone.results.options.share).toBe(false);
    expect(alone.results.results.eigen!.reuses).toBeUndefined();
    expect(alone.results.results.eigen!.products).toBeGreaterThan(2);
    for (let i = 0; i < 2; i++) expect(Math.abs(alone.results.results.eigen!.values[i]! - top[i]!)).toBeLessThan(1e-6 * Math.abs(top[0]!));
  });

  it('runs a Lanczos of its own, warm started from the Ritz vector, when a short density run has not converged', async () => {
    const dense = await denseHessian(model, dataset, 12);
    const { results } = await analyze({ ...base, eigen: { k: 1 }, density: { steps: 2 } });
    const e = results.results.eigen!;
    expect(e.method).toBe('thick-restart Lanczos');
    expect(e.reuses).toMatch(/short of the tolerance/);
    // one product confirming the Ritz pair, then the run's own products
    expect(e.products).toBeGreaterThan(1);
    expect(Math.abs(e.values[0]! - dense.values.at(-1)!)).toBeLessThan(1e-6 * Math.abs(dense.values.at(-1)!));
  });

  it("deflates the Hutchinson trace by the density's basis: unbiased around the exact trace, a smaller error bar", async () => {
    const dense = await denseHessian(model, dataset, 12);
    const run = (share: boolean, seed: number) => analyze({ ...base, seed, trace: { products: 30 }, density: { steps: 10 }, share }).then((o) => o.results.results.trace!);
    const shared = await run(true, 3);
    expect(shared.reuses).toMatch(/tr\(QᵀHQ\)/);
    expect(shared.method).toMatch(/deflated/);
    expect(shared.products).toBe(30);
    expect(Math.abs(shared.estimate - dense.trace)).toBeLessThan(4 * shared.standardError);
    // over seeds, the deflated standard errors are smaller than the plain ones on the same probes' count
    let smaller = 0;
    for (let seed = 0; seed < 6; seed++) if ((await run(true, seed)).standardError < (await run(false, seed)).standardError) smaller++;
    expect(smaller).toBe(6);
    // a basis spanning every parameter leaves nothing to estimate: exact to float32 rounding
    const whole = await analyze({ ...base, trace: { products: 4 }, density: { steps: 35 } });
    expect(Math.abs(whole.results.results.trace!.estimate - dense.trace)).toBeLessThan(1e-5 * Math.abs(dense.trace));
  });

  it('leaves a warm-started eigen stage and the other trace estimators alone', async () => {
    const startVector = Float32Array.from({ length: model.size }, (_, i) => Math.cos(i));
    const { results } = await analyze({ ...base, eigen: { k: 1, startVector }, trace: { method: 'hutch++', products: 12 }, density: { steps: 10 } });
    expect(results.results.eigen!.reuses).toBeUndefined();
    expect(results.results.trace!.reuses).toBeUndefined();
    expect(results.results.trace!.method).toBe('Hutch++');
  });

  it('refuses a share option that is not a boolean', async () => {
    await expect(analyze({ ...base, share: 'yes' as unknown as boolean })).rejects.toThrow(/'share' option must be true or false, got "yes"/);
  });
});

describe('credentials in the command line', () => {
  it('are replaced by *** in every URL, keeping the user name', () => {
    expect(redactCredentials('redis://:SECRET@host:6379')).toBe('redis://***@host:6379');
    expect(redactCredentials('--cluster=rediss://alice:p%40ss@h/0')).toBe('--cluster=rediss://alice:***@h/0');
    expect(redactCredentials('https://token@example.com/x and ftp://u:v@w')).toBe('https://***@example.com/x and ftp://u:***@w');
    expect(redactCredentials('redis://host:6379 user@example.com')).toBe('redis://host:6379 user@example.com');
  });

  it('never reach results.json or the report of any operation', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hesse-redact-'));
    const commandLine = ['analyze', '--cluster', 'redis://:SECRET@redis.example:6379', '--data=https://bob:HUNTER2@data.example/x'];
    const model = tinyModel();
    const common = { model, dataset: tinySet(8, 6), normalize: null, commandLine };
    const analysed = await analyze({ ...common, eigen: { k: 1 } });
    const landscape = await landscapeRun({ ...common, directions: 'random', steps: 3 });
    for (const [name, results] of [['analyze', analysed.results], ['landscape', landscape.results]] as const) {
      expect(results.argv, name).toEqual(['analyze', '--cluster', 'redis://***@redis.example:6379', '--data=https://bob:***@data.example/x']);
      await writeReport(join(dir, name), results, { png: false });
      for (const f of ['results.json', 'index.html']) {
        const text = readFileSync(join(dir, name, f), 'utf8');
        expect(text, `${name}/${f}`).not.toMatch(/SECRET|HUNTER2/);
        expect(text, `${name}/${f}`).toContain('redis.example');
      }
    }
    // the exported createResults, which library users call directly, stores no password either
    const own = createResults({ command: 'mine', kernels: 'reference', inputs: analysed.results.inputs, options: analysed.results.options, argv: commandLine });
    expect(own.argv).toEqual(analysed.results.argv);
  });
});

describe('landscapeRun (the library operation)', () => {
  it('refuses a model whose loss is not a number at its weights', async () => {
    const model: Model = tinyModel();
    model.theta[0] = Number.NaN;
    await expect(landscapeRun({ model, dataset: tinySet(8, 7), normalize: null, directions: 'random' })).rejects.toThrow(NonFiniteError);
    await expect(landscapeRun({ model, dataset: tinySet(8, 7), normalize: null, directions: 'random' })).rejects.toThrow(/loss at the trained weights is NaN/);
  });

  it('reports no accuracy where the loss is not finite (weights overflowing float32 far along the direction)', async () => {
    const { landscape } = await landscapeRun({ model: tinyModel(), dataset: tinySet(8, 8), normalize: null, directions: 'random', includeBiasBn: true, steps: 5, range: 1e39 });
    const loss = landscape.loss as number[];
    const accuracy = landscape.accuracy as number[];
    expect(Number.isFinite(loss[2])).toBe(true);
    expect(accuracy[2]).toBeGreaterThanOrEqual(0);
    const diverged = loss.map((l, i) => (Number.isFinite(l) ? -1 : i)).filter((i) => i >= 0);
    expect(diverged.length).toBeGreaterThan(0);
    for (const i of diverged) expect(accuracy[i]).toBeNaN();
  });
});

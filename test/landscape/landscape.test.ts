import { describe, expect, it } from 'vitest';
import { landscapeRun } from '../../src/api/landscapeRun.js';
import { ImageDataset, synthetic } from '../../src/data/index.js';
import { NonFiniteError } from '../../src/errors.js';
import { datasetHessianOperator, hessianOperator } from '../../src/curvature/index.js';
import { batchEvaluator, filterNormalizedDirection, landscape1d, landscape2d } from '../../src/landscape/index.js';
import { lanczosEigs } from '../../src/linalg/index.js';
import { evaluateBatch, lossAndGradient, mlp, resnet, type Batch } from '../../src/nn/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';

function batchOf(n: number, shape: number[], classes: number, seed: number): Batch {
  const rng = new Rng(seed);
  return {
    x: new Tensor([n, ...shape], rng.fillNormal(new Float32Array(n * shape.reduce((p, d) => p * d, 1))) as Float32Array),
    y: Int32Array.from({ length: n }, () => rng.int(classes)),
  };
}

describe('loss landscapes', () => {
  it('at the origin the loss equals the model loss; along the top eigenvector the second difference is the top eigenvalue', async () => {
    const model = mlp({ sizes: [5, 6, 3], activation: 'tanh', seed: 3 });
    const batch = batchOf(12, [5], 3, 4);
    const { eigenvalues, eigenvectors } = await lanczosEigs(hessianOperator(model, batch), { k: 1, seed: 1, tol: 1e-6 });
    const h = 0.02;
    const curve = await landscape1d(batchEvaluator(model, batch), model.theta, eigenvectors[0]!, { steps: 5, range: 2 * h });
    expect(curve.complete).toBe(true);
    expect(curve.alphas[2]).toBeCloseTo(0, 12);
    expect(Math.abs(curve.loss[2]! - lossAndGradient(model, batch).loss)).toBeLessThan(1e-6);
    const [lm, l0, lp] = [curve.loss[1]!, curve.loss[2]!, curve.loss[3]!];
    const curvature = (lp - 2 * l0 + lm) / (h * h);
    expect(Math.abs(curvature - eigenvalues[0]!) / Math.abs(eigenvalues[0]!)).toBeLessThan(0.02);
  });

  it('filter-normalised directions match each filter norm and leave BN and biases out by default', () => {
    const model = resnet({ depth: 8, width: 4, seed: 2 });
    const d = filterNormalizedDirection(model, { seed: 7 });
    for (const b of model.blocks) {
      const w = model.theta.subarray(b.offset, b.offset + b.length);
      const v = d.subarray(b.offset, b.offset + b.length);
      if (b.kind === 'conv.weight' || b.kind === 'linear.weight') {
        const per = b.length / b.shape[0]!;
        for (let f = 0; f < b.shape[0]!; f++) {
          let dn = 0, wn = 0;
          for (let i = f * per; i < (f + 1) * per; i++) {
            dn += v[i]! ** 2;
            wn += w[i]! ** 2;
          }
          expect(Math.sqrt(dn)).toBeCloseTo(Math.sqrt(wn), 4);
        }
      } else expect(v.every((x) => x === 0)).toBe(true);
    }
    const withBn = filterNormalizedDirection(model, { seed: 7, includeBiasBn: true });
    const bn = model.blocks.find((b) => b.name === 'bn1.weight')!;
    expect([...withBn.subarray(bn.offset, bn.offset + bn.length)]).toEqual([...model.theta.subarray(bn.offset, bn.offset + bn.length)]);
    expect(filterNormalizedDirection(model, { seed: 7 })).toEqual(d);
  });

  it('a 2-D surface over a dataset: the centre is the dataset loss, and stopping keeps what was finished', async () => {
    const model = resnet({ depth: 8, width: 2, seed: 1 });
    const a = batchOf(3, [3, 6, 6], 10, 1), b = batchOf(5, [3, 6, 6], 10, 2);
    // a dataset's losses come from where its products run (what landscapeRun evaluates with)
    const executor = datasetHessianOperator(model, { batches: () => [a, b] }).executor;
    const evaluate = (theta: Float32Array) => executor.losses(theta);
    const d1 = filterNormalizedDirection(model, { seed: 1 }), d2 = filterNormalizedDirection(model, { seed: 2 });
    const s = await landscape2d(evaluate, model.theta, d1, d2, { steps: 3, range: 0.5 });
    const ra = evaluateBatch(model, a), rb = evaluateBatch(model, b);
    expect(s.loss[1]![1]).toBeCloseTo((3 * ra.loss + 5 * rb.loss) / 8, 5);
    expect(s.loss.flat().every(Number.isFinite)).toBe(true);
    const controller = new AbortController();
    const partial = await landscape2d(evaluate, model.theta, d1, d2, {
      steps: 3,
      range: 0.5,
      signal: controller.signal,
      onProgress: (p) => p.done === 4 && controller.abort(),
    });
    expect(partial.complete).toBe(false);
    expect(partial.loss.flat().filter(Number.isFinite).length).toBe(4);
    expect(partial.loss[0]![0]).toBe(s.loss[0]![0]);
  });
});

describe('landscapes where the loss is not finite', () => {
  it('a model whose loss is NaN is refused, as analyze refuses it, before any grid point is evaluated', async () => {
    const model = mlp({ sizes: [3 * 4 * 4, 5, 10], seed: 1 });
    model.theta[7] = Number.NaN;
    const dataset = synthetic({ n: 8 });
    const small = new ImageDataset({ name: 'tiny', pixels: dataset.pixels.subarray(0, 8 * 48), labels: dataset.labels(), channels: 3, height: 4, width: 4, classes: 10 });
    let points = 0;
    for (const directions of ['random', 'eigen'] as const) {
      const err = await landscapeRun({
        model,
        dataset: small,
        normalize: null,
        directions,
        dims: 1,
        steps: 5,
        range: 1,
        onProgress: (stage) => stage === 'landscape' && points++,
      }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err, directions).toBeInstanceOf(NonFiniteError);
      expect(err!.message).toMatch(/NaN/);
    }
    expect(points).toBe(0);
  });

  it('far out (range 1e30) the loss overflows: there neither loss nor accuracy is reported; elsewhere both are, as evaluated directly', async () => {
    const model = mlp({ sizes: [5, 6, 3], activation: 'relu', seed: 3 });
    const batch = batchOf(12, [5], 3, 4);
    const d = filterNormalizedDirection(model, { seed: 2 });
    const evaluate = batchEvaluator(model, batch);
    const curve = await landscape1d(evaluate, model.theta, d, { steps: 7, range: 1e30 });
    const finite = curve.loss.map(Number.isFinite);
    expect(finite.filter(Boolean).length).toBeGreaterThan(0); // the origin
    expect(finite.some((f) => !f)).toBe(true);
    curve.alphas.forEach((alpha, i) => {
      if (finite[i]) {
        const theta = model.theta.map((t, k) => t + alpha * d[k]!);
        expect(curve.accuracy[i], `alpha ${alpha}`).toBe(evaluateBatch(model, batch, { theta }).accuracy);
      } else expect(curve.accuracy[i], `alpha ${alpha}`).toBeNaN();
    });
    const plane = await landscape2d(evaluate, model.theta, d, filterNormalizedDirection(model, { seed: 3 }), { steps: 3, range: 1e30 });
    plane.loss.forEach((row, i) => row.forEach((l, j) => expect(Number.isNaN(plane.accuracy[i]![j]!)).toBe(!Number.isFinite(l))));
    expect(plane.accuracy[1]![1]).toBe(evaluateBatch(model, batch).accuracy);
  });
});

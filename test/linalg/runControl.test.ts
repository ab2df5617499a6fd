import { describe, expect, it } from 'vitest';
import {
  countingOperator,
  denseOperator,
  hutchinson,
  hutchinsonDiagonal,
  hutchPlusPlus,
  lanczosEigs,
  powerIteration,
  slq,
  symmetricWithSpectrum,
  xtrace,
  type LinearOperator,
  type Progress,
  type RunOptions,
  type RunRecord,
} from '../../src/linalg/index.js';
import { linspace } from './fixtures.js';

type Algorithm = (op: LinearOperator, run: RunOptions) => Promise<RunRecord<unknown>>;

const algorithms: Record<string, Algorithm> = {
  'power-iteration': (op, run) => powerIteration(op, { topN: 2, maxIter: 20, seed: 1, ...run }),
  lanczos: (op, run) => lanczosEigs(op, { k: 2, seed: 1, ...run }),
  hutchinson: (op, run) => hutchinson(op, { probes: 20, seed: 1, ...run }),
  'hutch++': (op, run) => hutchPlusPlus(op, { products: 21, seed: 1, ...run }),
  xtrace: (op, run) => xtrace(op, { products: 20, seed: 1, ...run }),
  'hutchinson-diagonal': (op, run) => hutchinsonDiagonal(op, { probes: 20, seed: 1, ...run }),
  slq: (op, run) => slq(op, { steps: 10, probes: 2, seed: 1, ...run }),
};

describe.each(Object.entries(algorithms))('%s', (method, algorithm) => {
  const m = symmetricWithSpectrum(linspace(-1, 4, 50), 71);

  it('counts every product, reports progress, and describes itself', async () => {
    const op = countingOperator(denseOperator(m.matrix, m.n));
    const seen: Progress[] = [];
    const r = await algorithm(op, { onProgress: (p) => seen.push(p) });
    expect(r.method).toBe(method);
    expect(r.products).toBe(op.products);
    expect(r.products).toBeGreaterThan(0);
    expect(r.aborted).toBe(false);
    expect(r.wallTimeMs).toBeGreaterThanOrEqual(0);
    expect(r.options).toMatchObject({ seed: 1 });
    expect(seen.at(-1)!.done).toBe(r.products);
    for (let i = 1; i < seen.length; i++) expect(seen[i]!.done).toBeGreaterThan(seen[i - 1]!.done);
  });

  it('rejects with the AbortError when aborted before its first product', async () => {
    const op = denseOperator(m.matrix, m.n);
    await expect(algorithm(op, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('resolves with a partial, flagged result when aborted after a product', async () => {
    const op = denseOperator(m.matrix, m.n);
    const controller = new AbortController();
    const r = await algorithm(op, { signal: controller.signal, onProgress: () => controller.abort() });
    expect(r.aborted).toBe(true);
    expect(r.products).toBeGreaterThan(0);
    expect(r.products).toBeLessThanOrEqual(4);
  });
});

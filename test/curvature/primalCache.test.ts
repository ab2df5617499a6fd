import { describe, expect, it } from 'vitest';
import { PrimalCache } from '../../src/curvature/index.js';
import { mlp, secondOrder, type Batch } from '../../src/nn/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';

/**
 * The recorded passes the products run on: those that fit the budget are kept for the next
 * product, those that do not are disposed of as soon as their products are taken (their memory
 * back to the pool at once, not whenever the garbage collector finds them).
 */
describe('PrimalCache', () => {
  const model = mlp({ sizes: [4, 5, 3], activation: 'tanh', seed: 2 });
  const rng = new Rng(3);
  const batch: Batch = { x: new Tensor([6, 4], rng.fillNormal(new Float32Array(24)) as Float32Array), y: Int32Array.of(0, 1, 2, 0, 1, 2) };
  const v = rng.fillNormal(new Float32Array(model.size)) as Float32Array;
  const record = () => secondOrder(model, batch);
  const disposed = /was disposed of: build a new one/;

  it('keeps a pass that fits and hands the same one out again, until it is dropped', () => {
    const cache = new PrimalCache(2 ** 30);
    const first = cache.withPass('run', 0, record, (ctx) => ctx);
    const want = Array.from(first.hvp(v));
    const again = cache.withPass('run', 0, record, (ctx) => ctx);
    expect(again).toBe(first);
    expect(cache.stats).toEqual({ primalPasses: 1, cachedPasses: 1 });
    expect(cache.bytes).toBe(first.primalBytes);
    expect(Array.from(again.hvp(v))).toEqual(want);
    cache.drop();
    expect(cache.bytes).toBe(0);
    expect(() => first.hvp(v)).toThrow(disposed);
    // dropped: the next product records the pass again, with the same numbers
    expect(cache.withPass('run', 0, record, (ctx) => Array.from(ctx.hvp(v)))).toEqual(want);
    expect(cache.stats.primalPasses).toBe(2);
  });

  it('disposes of a pass over the budget once its products are taken, and when they throw', () => {
    const cache = new PrimalCache(0);
    let seen: ReturnType<typeof record> | undefined;
    const got = cache.withPass('run', 0, record, (ctx) => {
      seen = ctx;
      return Array.from(ctx.hvp(v));
    });
    expect(got).toEqual(Array.from(record().hvp(v)));
    expect(() => seen!.hvp(v)).toThrow(disposed);
    expect(cache.bytes).toBe(0);
    expect(() =>
      cache.withPass('run', 0, record, (ctx) => {
        seen = ctx;
        throw new Error('a failing product');
      }),
    ).toThrow('a failing product');
    expect(() => seen!.hvp(v)).toThrow(disposed);
    expect(cache.stats).toEqual({ primalPasses: 2, cachedPasses: 0 });
  });

  it('drops only the runs whose key matches', () => {
    const cache = new PrimalCache(2 ** 30);
    const a = cache.withPass('a|0', 0, record, (ctx) => ctx), b = cache.withPass('b|0', 0, record, (ctx) => ctx);
    cache.drop((key) => key.startsWith('a|'));
    expect(() => a.hvp(v)).toThrow(disposed);
    expect(() => b.hvp(v)).not.toThrow();
    expect(cache.bytes).toBe(b.primalBytes);
  });
});

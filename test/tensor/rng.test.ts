import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/tensor/rng.js';

describe('Rng', () => {
  it('gives the same stream for the same seed and different streams otherwise', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.nextUint32());
    const sb = Array.from({ length: 8 }, () => b.nextUint32());
    const sc = Array.from({ length: 8 }, () => c.nextUint32());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(new Rng(42, 1).nextUint32()).not.toBe(sa[0]);
  });

  it('is pinned: the first values of seed 0 never change across platforms or releases', () => {
    const r = new Rng(0);
    const first = Array.from({ length: 4 }, () => r.nextUint32());
    // Recorded once from this implementation; a change here breaks every saved seed.
    expect(first).toMatchInlineSnapshot(`
      [
        3809008728,
        1133695204,
        53579671,
        2891528803,
      ]
    `);
  });

  it('has the moments of its distributions', () => {
    const r = new Rng(7);
    const n = 200_000;
    let su = 0, sn = 0, sn2 = 0, sr = 0;
    for (let i = 0; i < n; i++) {
      su += r.uniform();
      const z = r.normal();
      sn += z;
      sn2 += z * z;
      const s = r.rademacher();
      expect(s === 1 || s === -1).toBe(true);
      sr += s;
    }
    expect(Math.abs(su / n - 0.5)).toBeLessThan(0.005);
    expect(Math.abs(sn / n)).toBeLessThan(0.01);
    expect(Math.abs(sn2 / n - 1)).toBeLessThan(0.015);
    expect(Math.abs(sr / n)).toBeLessThan(0.01);
  });

  it('permutes every index exactly once', () => {
    const p = new Rng(3).permutation(1000);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });
});

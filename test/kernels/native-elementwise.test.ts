import { describe, expect, it } from 'vitest';
import { Elementwise, Muladd, referenceKernels } from '../../src/kernels/index.js';
import { configureNative, loadNativeKernels, nativeInfo } from '../../src/kernels/native.js';
import { geometry } from '../../src/ops/broadcast.js';
import { Rng, sizeOf, type Shape } from '../../src/tensor/index.js';
import { expectClose, randomArray, viewAt } from './helpers.js';

const native = loadNativeKernels().kernels!;

function iterSize(g: Float64Array): number {
  let n = 1;
  for (let d = 0; d < g[0]!; d++) n *= g[1 + d]!;
  return n;
}

/** The first index where the two arrays differ as bit patterns (NaN equals NaN), or -1. */
function firstDifference(x: Float32Array, y: Float32Array): number {
  const xi = new Uint32Array(x.buffer, x.byteOffset, x.length), yi = new Uint32Array(y.buffer, y.byteOffset, y.length);
  for (let i = 0; i < x.length; i++) if (xi[i] !== yi[i] && !(Number.isNaN(x[i]!) && Number.isNaN(y[i]!))) return i;
  return -1;
}
const kinds = [Elementwise.Add, Elementwise.Sub, Elementwise.Mul, Elementwise.Div, Elementwise.Copy, Elementwise.Max, Elementwise.Greater, Elementwise.Gate] as const;

/** [out shape, a shape, b shape] cases: same shape, per-channel, scalar, leading block, inner broadcast, large (threaded). */
const cases: [Shape, Shape, Shape][] = [
  [[7], [7], [7]],
  [[2, 3, 4, 5], [2, 3, 4, 5], [1, 3, 1, 1]],
  [[2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]],
  [[3, 5], [3, 5], []],
  [[4, 2, 3, 6], [4, 2, 3, 6], [2, 3, 6]],
  [[5, 3], [5, 1], [1, 3]],
];
/** Large enough for the kernel to split it over threads (the reference is slow: one kind only). */
const large: [Shape, Shape, Shape] = [[4, 64, 33, 33], [4, 64, 33, 33], [1, 64, 1, 1]];

/** Every instruction set this machine runs, each with 1 and 2 threads. */
function isaConfigs(): { isa: 'generic' | 'avx2' | 'avx512'; threads: number; label: string }[] {
  const order = ['generic', 'avx2', 'avx512'] as const;
  const best = order.indexOf(nativeInfo()!.bestIsa);
  return order.filter((_, i) => i <= best).flatMap((isa) => [1, 2].map((threads) => ({ isa, threads, label: `${isa}, ${threads} thread(s)` })));
}

function withConfig<T>(cfg: { isa: 'generic' | 'avx2' | 'avx512'; threads: number }, f: () => T): T {
  const before = nativeInfo()!;
  configureNative({ isa: cfg.isa, threads: cfg.threads });
  try {
    return f();
  } finally {
    configureNative({ isa: before.isa, threads: before.threads });
  }
}

describe('native elementwise kernels against the reference', () => {
  it.each(isaConfigs())('binary: every kind, accumulate or not, broadcasting and views ($label)', (cfg) => {
    withConfig(cfg, () => {
      const rng = new Rng(cfg.threads);
      for (const [out, as, bs] of [...cases, large]) {
        const a = viewAt(randomArray(rng, sizeOf(as)), 3);
        const b = viewAt(rng.fillUniform(new Float32Array(sizeOf(bs)), 0.5, 2) as Float32Array, 1);
        const g = geometry(out, [as, bs]);
        for (const kind of out === large[0] ? [Elementwise.Mul] : kinds) {
          for (const acc of [false, true]) {
            const start = randomArray(rng, sizeOf(out));
            const want = start.slice(), got = viewAt(start, 2);
            referenceKernels.binary(kind, a, b, want, g, acc);
            native.binary(kind, a, kind === Elementwise.Copy ? null : b, got, g, acc);
            // every element is one or two roundings of the same float32 operations
            let worst = 0;
            for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + 1));
            expect(worst).toBeLessThanOrEqual(2 ** -22);
          }
        }
      }
    });
  });

  it.each(isaConfigs())('binary: every kind equals the portable one-thread result bit for bit, tails and thread splits inside rows included ($label)', (cfg) => {
    // lengths around the vector widths and a flat array long enough to be split mid-row across threads
    const lengths = [1, 3, 15, 16, 17, 31, 33, 65, (1 << 18) + 37];
    const rng = new Rng(77);
    for (const n of lengths) {
      const a = randomArray(rng, n), b = randomArray(rng, n);
      a[0] = NaN;
      if (n > 2) b[2] = NaN;
      for (const kind of kinds) {
        for (const [label, g] of [['same shape', Float64Array.of(1, n, 1, 1)], ['b broadcast', Float64Array.of(1, n, 1, 0)], ['a broadcast', Float64Array.of(1, n, 0, 1)], ['strided', Float64Array.of(2, 1, Math.ceil(n / 2), 0, 2, 0, 2)]] as const) {
          const m = iterSize(g);
          const start = randomArray(rng, m);
          for (const acc of [false, true]) {
            const want = start.slice(), got = start.slice();
            withConfig({ isa: 'generic', threads: 1 }, () => native.binary(kind, a, kind === Elementwise.Copy ? null : b, want, g, acc));
            withConfig(cfg, () => native.binary(kind, a, kind === Elementwise.Copy ? null : b, got, g, acc));
            const bad = firstDifference(got, want);
            if (bad >= 0) throw new Error(`kind ${kind} ${label} n=${n} acc=${acc}: element ${bad} is ${got[bad]} but the portable path gave ${want[bad]}`);
          }
        }
      }
    }
  });

  it.each(isaConfigs())('gate keeps the cotangent where the input is positive and writes +0 elsewhere, NaN included ($label)', (cfg) => {
    const g = Float32Array.of(NaN, NaN, -0, -0, 3, Infinity, -Infinity, 2, 5);
    const x = Float32Array.of(1, -1, 1, 0, NaN, -0, 0, Infinity, -Infinity);
    const out = new Float32Array(g.length).fill(7);
    withConfig(cfg, () => native.binary(Elementwise.Gate, g, x, out, Float64Array.of(1, g.length, 1, 1), false));
    expect([...out]).toEqual([NaN, 0, -0, 0, 0, 0, 0, 2, 0]);
    expect(Object.is(out[3], 0) && Object.is(out[2], -0)).toBe(true);
  });

  it.each(isaConfigs())('reduce: sums and sums of products down to any broadcastable shape, in float64 ($label)', (cfg) => withConfig(cfg, () => {
    const rng = new Rng(5);
    const sums: [Shape, Shape, Shape][] = [
      [[2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]],
      [[2, 3, 4, 5], [2, 3, 4, 5], [1]],
      [[6, 7], [6, 1], [1, 7]],
      [[3, 2, 8, 8], [3, 1, 1, 1], [3, 2, 8, 8]],
      // long rows with odd tails, and a block of tangents large enough to be split over threads
      [[2, 3, 1037], [1, 3, 1], [2, 3, 1037]],
      [[5, 2, 16, 1031], [5, 1, 16, 1], [1, 2, 16, 1031]],
      [[5, 1031], [1, 1031], [5, 1031]],
    ];
    for (const [full, outShape, bShape] of sums) {
      const a = randomArray(rng, sizeOf(full));
      const b = randomArray(rng, sizeOf(bShape));
      for (const withB of [false, true]) {
        const g = geometry(full, [full, withB ? bShape : full, outShape]);
        const want = new Float32Array(sizeOf(outShape)), got = new Float32Array(sizeOf(outShape)).fill(NaN);
        referenceKernels.reduce(a, withB ? b : null, want, g);
        native.reduce(a, withB ? b : null, got, g);
        let worst = 0;
        for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + 1));
        expect(worst).toBeLessThanOrEqual(1e-6);
      }
    }
  }));

  it.each(isaConfigs())('muladd: a·b + c·d + e with each term optional, per-channel and full operands, accumulating or not ($label)', (cfg) => {
    const rng = new Rng(31);
    // a per-channel affine map, its tangent (tx·s + x·ts + tt over a block), and every operand full
    const full: Shape = [3, 2, 5, 37], ch: Shape = [1, 1, 5, 1], bx: Shape = [1, 2, 5, 37], big: Shape = [2, 4, 64, 33, 33];
    const cases: [Shape, Shape[]][] = [
      [full, [full, ch, bx, [3, 1, 5, 1], [3, 1, 5, 1]]],
      [full, [full, full, full, full, full]],
      [full, [ch, full, full, ch, ch]],
      [big, [big, [1, 1, 64, 1, 1], [1, 4, 64, 33, 33], [2, 1, 64, 1, 1], [2, 1, 64, 1, 1]]],
    ];
    withConfig(cfg, () => {
      for (const [outShape, shapes] of cases) {
        const data = shapes.map((s) => viewAt(randomArray(rng, sizeOf(s)), 1));
        for (const [withCd, withE] of [[true, true], [true, false], [false, true], [false, false]]) {
          if (outShape === big && !(withCd && withE)) continue;
          for (const acc of [false, true]) {
            const start = randomArray(rng, sizeOf(outShape));
            const want = start.slice(), got = viewAt(start, 3);
            const g = geometry(outShape, shapes);
            const args = [data[0]!, data[1]!, withCd ? data[2]! : null, withCd ? data[3]! : null, withE ? data[4]! : null] as const;
            const mode = acc ? Muladd.Add : Muladd.Set;
            referenceKernels.muladd(...args, want, g, mode);
            native.muladd(...args, got, g, mode);
            // each term rounded as written, in the same order: the same float32 operations as the reference
            let worst = 0;
            for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!) / (Math.abs(want[i]!) + 1));
            expect(worst, `${JSON.stringify(outShape)} cd=${withCd} e=${withE} acc=${acc}`).toBeLessThanOrEqual(acc ? 2 ** -22 : 0);
          }
        }
      }
    });
    // an absent term is left out, not added as zero: -0 stays -0
    const z = new Float32Array(1);
    withConfig(cfg, () => native.muladd(Float32Array.of(-0), Float32Array.of(1), null, null, null, z, Float64Array.of(1, 1, 1, 1, 0, 0, 0), Muladd.Set));
    expect(Object.is(z[0], -0)).toBe(true);
  });

  it.each(isaConfigs())('muladd with relu: the bits of the affine map and then a Max pass, NaN kept and -0 to +0 ($label)', (cfg) => {
    const rng = new Rng(32);
    // batch norm's affine map x·s + t (then ReLU), per channel, odd rows, and one large enough for two threads
    const cases: [Shape, Shape][] = [[[3, 5, 7, 9], [1, 5, 1, 1]], [[2, 64, 33, 33], [1, 64, 1, 1]], [[4, 3, 1, 1], [1, 3, 1, 1]]];
    withConfig(cfg, () => {
      for (const [full, ch] of cases) {
        const x = randomArray(rng, sizeOf(full)), s = randomArray(rng, sizeOf(ch)), t = randomArray(rng, sizeOf(ch));
        x[0] = NaN;
        x[1] = 0; // 0·s + t: the kink where t is 0
        t[0] = 0;
        x[2] = -0;
        const g = geometry(full, [full, ch, full, full, ch]);
        const fused = new Float32Array(x.length).fill(7), affine = new Float32Array(x.length), twoPass = new Float32Array(x.length), want = new Float32Array(x.length);
        native.muladd(x, s, null, null, t, fused, g, Muladd.Relu);
        native.muladd(x, s, null, null, t, affine, g, Muladd.Set);
        native.binary(Elementwise.Max, affine, new Float32Array(1), twoPass, geometry(full, [full, []]), false);
        referenceKernels.muladd(x, s, null, null, t, want, g, Muladd.Relu);
        expect(firstDifference(fused, twoPass), `${full} against the two passes`).toBe(-1);
        expect(firstDifference(fused, want), `${full} against the reference`).toBe(-1);
        expect(Number.isNaN(fused[0])).toBe(true);
        expect(fused.every((v) => Number.isNaN(v) || v >= 0)).toBe(true);
      }
      // -0 from the affine map comes out +0, as Max against +0 gives it
      const z = new Float32Array(1);
      native.muladd(Float32Array.of(-0), Float32Array.of(1), null, null, null, z, Float64Array.of(1, 1, 1, 1, 0, 0, 0), Muladd.Relu);
      expect(Object.is(z[0], 0)).toBe(true);
    });
  });

  it.each(isaConfigs())('muladd with a gate: the bits of the tangent and then a Gate pass, for every tangent of a block ($label)', (cfg) => {
    const rng = new Rng(33);
    // the tangent of x·s + t then ReLU over a block of k tangents, y the mask of them all; odd rows,
    // and one large enough for two threads
    const cases: [number, Shape, Shape][] = [[3, [2, 5, 7, 9], [1, 5, 1, 1]], [2, [2, 64, 33, 33], [1, 64, 1, 1]], [1, [4, 3, 1, 1], [1, 3, 1, 1]]];
    let sawNegative = false;
    withConfig(cfg, () => {
      for (const [k, one, ch] of cases) {
        const block: Shape = [k, ...one], perBlockC: Shape = [k, ...ch];
        const n = sizeOf(one);
        const tx = randomArray(rng, k * n), s = randomArray(rng, sizeOf(ch)), x = randomArray(rng, n), ts = randomArray(rng, k * sizeOf(ch));
        const tt = randomArray(rng, k * sizeOf(ch)), y = randomArray(rng, n);
        for (let j = 0; j < k; j++) {
          tx[j * n] = NaN; // gated out: +0, not NaN
          tx[j * n + 1] = NaN; // kept: NaN
        }
        y[0] = -1;
        y[1] = 1;
        y[2] = 0; // y = 0 and -0 gate, NaN gates
        y[3] = -0;
        y[4] = NaN;
        for (const withCd of [true, false]) {
          const shapes = [block, ch, one, perBlockC, perBlockC];
          const [c, d] = withCd ? [x, ts] : [null, null];
          const fused = new Float32Array(k * n).fill(7), tangent = new Float32Array(k * n), twoPass = new Float32Array(k * n), want = new Float32Array(k * n);
          native.muladd(tx, s, c, d, tt, fused, geometry(block, [...shapes, one]), Muladd.Gate, y);
          native.muladd(tx, s, c, d, tt, tangent, geometry(block, shapes), Muladd.Set);
          native.binary(Elementwise.Gate, tangent, y, twoPass, geometry(block, [block, one]), false);
          referenceKernels.muladd(tx, s, c, d, tt, want, geometry(block, [...shapes, one]), Muladd.Gate, y);
          const what = `${JSON.stringify(block)} cd=${withCd}`;
          expect(firstDifference(fused, twoPass), `${what} against the two passes`).toBe(-1);
          expect(firstDifference(fused, want), `${what} against the reference`).toBe(-1);
          for (let j = 0; j < k; j++) {
            expect(Object.is(fused[j * n], 0), what).toBe(true);
            expect(Number.isNaN(fused[j * n + 1]), what).toBe(true);
            for (const i of [2, 3, 4]) expect(Object.is(fused[j * n + i], 0), what).toBe(true);
          }
          sawNegative ||= fused.some((v) => v < 0);
        }
      }
      expect(sawNegative).toBe(true); // negative tangents pass where y > 0
      // a mask that does not run along the rows with unit stride (here: one value per row) is read element by element
      const t = randomArray(rng, 12), m = Float32Array.of(1, -1, 1), got = new Float32Array(12), want = new Float32Array(12);
      const g = geometry([3, 4], [[3, 4], [], [3, 4], [3, 4], [3, 4], [3, 1]]);
      native.muladd(t, Float32Array.of(2), null, null, null, got, g, Muladd.Gate, m);
      referenceKernels.muladd(t, Float32Array.of(2), null, null, null, want, g, Muladd.Gate, m);
      expect(firstDifference(got, want)).toBe(-1);
      expect(Array.from(got.subarray(4, 8))).toEqual([0, 0, 0, 0]);
    });
  });

  it('muladd refuses a mode it does not know, a mask without the gate and the gate without one, and wrong argument counts', () => {
    const a = new Float32Array(4), g = Float64Array.of(1, 4, 1, 1, 1, 1, 1), g6 = Float64Array.of(1, 4, 1, 1, 1, 1, 1, 1);
    for (const k of [native, referenceKernels]) {
      const call = k.muladd as unknown as (...x: unknown[]) => void;
      for (const mode of [4, -1, 1.5, true]) expect(() => call(a, a, null, null, null, a, g, mode), String(mode)).toThrow(/mode must be 0 \(set\), 1 \(add\), 2 \(relu\) or 3 \(gate\)/);
      expect(() => k.muladd(a, a, null, null, null, a, g6, Muladd.Gate)).toThrow(/mode gate \(3\) needs the mask, a Float32Array, as the 9th argument/);
      expect(() => k.muladd(a, a, null, null, null, a, g, Muladd.Relu, a)).toThrow(/a mask goes with mode gate \(3\) only: pass null, or mode 3/);
    }
    // the native kernel also checks the mask's type, length and the geometry's sixth set of strides
    expect(() => (native.muladd as unknown as (...x: unknown[]) => void)(a, a, null, null, null, a, g6, Muladd.Gate, new Float64Array(4))).toThrow(/mask must be a Float32Array/);
    expect(() => native.muladd(a, a, null, null, null, a, g6, Muladd.Gate, new Float32Array(3))).toThrow(/mask is too short for its strides/);
    expect(() => native.muladd(a, a, null, null, null, a, g, Muladd.Gate, a)).toThrow(/geometry has the wrong length for its rank/);
    expect(() => (native.muladd as unknown as (...x: unknown[]) => void)(a, a, null, null, null, a, g)).toThrow(/expected 8 or 9 arguments, got 7/);
  });

  it('reduce gives the same bits on every instruction set and thread count (the sums are never split across threads)', () => {
    const rng = new Rng(9);
    const full = [6, 2, 16, 1031], outShape = [6, 1, 16, 1];
    const a = randomArray(rng, sizeOf(full)), b = randomArray(rng, sizeOf(full));
    const g = geometry(full, [full, full, outShape]);
    const want = new Float32Array(sizeOf(outShape));
    withConfig({ isa: 'generic', threads: 1 }, () => native.reduce(a, b, want, g));
    for (const cfg of isaConfigs()) {
      const got = new Float32Array(want.length);
      withConfig(cfg, () => native.reduce(a, b, got, g));
      expect(firstDifference(got, want), cfg.label).toBe(-1);
    }
  });

  it('max against zero is ReLU with NaN passed through, greater is its 0/1 mask', () => {
    const x = Float32Array.of(-2, -0, 0, 0.5, NaN, Infinity, -Infinity);
    const g = Float64Array.of(1, x.length, 1, 0);
    const zero = new Float32Array(1);
    const relu = new Float32Array(x.length), mask = new Float32Array(x.length);
    native.binary(Elementwise.Max, x, zero, relu, g, false);
    native.binary(Elementwise.Greater, x, zero, mask, g, false);
    expect([...relu]).toEqual([0, 0, 0, 0.5, NaN, Infinity, 0]);
    expect([...mask]).toEqual([0, 0, 0, 1, 0, 1, 0]);
  });

  it('refuses operands too short for their strides and bad geometry', () => {
    const g = geometry([4, 5], [[4, 5], [1, 5]]);
    expect(() => native.binary(Elementwise.Add, new Float32Array(19), new Float32Array(5), new Float32Array(20), g, false)).toThrow(/a is too short/);
    expect(() => native.binary(Elementwise.Add, new Float32Array(20), new Float32Array(4), new Float32Array(20), g, false)).toThrow(/b is too short/);
    expect(() => native.binary(Elementwise.Add, new Float32Array(20), new Float32Array(5), new Float32Array(19), g, false)).toThrow(/out is shorter/);
    expect(() => native.binary(Elementwise.Mul, new Float32Array(20), null, new Float32Array(20), g, false)).toThrow(/b must be/);
    expect(() => native.reduce(new Float32Array(20), null, new Float32Array(1), Float64Array.of(9, 1))).toThrow(/rank/);
  });

  describe('affineBackward: batch norm\'s backward pass (and the ReLU after it) in one sweep', () => {
    /** [N, C, HW]: odd row lengths (tails of the eight lanes), one channel, and one large enough for two threads. */
    const shapes: [number, number, number][] = [[3, 5, 7], [2, 1, 33], [1, 4, 1], [8, 16, 1031]];
    const inputs = (rng: Rng, [N, C, HW]: [number, number, number], nanWhereClosed = true) => {
      const n = N * C * HW;
      const g = randomArray(rng, n), x = randomArray(rng, n), y = randomArray(rng, n);
      // the mask's edge cases: zeros of both signs and NaN (all closed), and NaN in g where the gate closes
      y[0] = 0;
      if (n > 2) y[1] = -0;
      if (n > 3) y[2] = NaN;
      if (n > 4) {
        y[3] = -0.5;
        if (nanWhereClosed) g[3] = NaN;
      }
      return { g, x, y, s: rng.fillUniform(new Float32Array(C), 0.5, 2) as Float32Array };
    };
    const run = (k: typeof native, i: ReturnType<typeof inputs>, mask: boolean, [N, C, HW]: [number, number, number]) => {
      const dx = new Float32Array(N * C * HW).fill(9), ds = new Float32Array(C).fill(9), dt = new Float32Array(C).fill(9);
      k.affineBackward(i.g, i.x, i.s, mask ? i.y : null, dx, ds, dt, N, C, HW);
      return { dx, ds, dt };
    };

    it.each(isaConfigs())('against the reference kernel, with and without the ReLU ($label)', (cfg) => {
      const rng = new Rng(40 + cfg.threads);
      for (const shape of shapes) {
        for (const mask of [false, true]) {
          const i = inputs(rng, shape, mask);
          const got = withConfig(cfg, () => run(native, i, mask, shape));
          const want = run(referenceKernels, i, mask, shape);
          expect(firstDifference(got.dx, want.dx), `dx ${shape} mask ${mask}`).toBe(-1);
          // float64 sums of float32 products rounded once: the lane order can move only the last bit
          const [N, , HW] = shape;
          const gm = mask ? i.g.map((v, j) => (i.y[j]! > 0 ? v : 0)) : i.g;
          const scaleOf = (f: (j: number) => number) => Float32Array.from(want.ds, (_, c) => {
            let t = 0;
            for (let n = 0; n < N; n++) for (let h = 0; h < HW; h++) t += Math.abs(f((n * want.ds.length + c) * HW + h));
            return t;
          });
          expectClose(got.ds, want.ds, scaleOf((j) => gm[j]! * i.x[j]!), 2, `ds ${shape} mask ${mask}`);
          expectClose(got.dt, want.dt, scaleOf((j) => gm[j]!), 2, `dt ${shape} mask ${mask}`);
          if (mask && shape[0] * shape[1] * shape[2] > 4) expect(Object.is(got.dx[3], 0)).toBe(true);
        }
      }
    });

    it.each(isaConfigs())('gives the bits of the gate, the multiply and the two reductions it replaces ($label)', (cfg) => {
      const rng = new Rng(50 + cfg.threads);
      for (const shape of shapes) {
        const [N, C, HW] = shape;
        const n = N * C * HW;
        const i = inputs(rng, shape);
        const full = [N, C, HW], perC = [1, C, 1];
        for (const mask of [false, true]) {
          const got = withConfig(cfg, () => run(native, i, mask, shape));
          const gm = new Float32Array(n), dx = new Float32Array(n), ds = new Float32Array(C), dt = new Float32Array(C);
          withConfig(cfg, () => {
            if (mask) native.binary(Elementwise.Gate, i.g, i.y, gm, geometry(full, [full, full]), false);
            else gm.set(i.g);
            native.binary(Elementwise.Mul, gm, i.s, dx, geometry(full, [full, perC]), false);
            native.reduce(gm, i.x, ds, geometry(full, [full, full, perC]));
            native.reduce(gm, null, dt, geometry(full, [full, full, perC]));
          });
          expect(firstDifference(got.dx, dx), `dx ${shape}`).toBe(-1);
          expect(firstDifference(got.ds, ds), `ds ${shape}`).toBe(-1);
          expect(firstDifference(got.dt, dt), `dt ${shape}`).toBe(-1);
        }
      }
    });

    it('refuses arrays shorter than N·C·HW or C', () => {
      const a = new Float32Array(24), c = new Float32Array(2);
      expect(() => native.affineBackward(new Float32Array(23), a, c, null, a, c, c, 3, 2, 4)).toThrow(/g, x, mask and dx must each hold N\*C\*HW values/);
      expect(() => native.affineBackward(a, a, c, new Float32Array(20), a, c, c, 3, 2, 4)).toThrow(/mask and dx must each hold/);
      expect(() => native.affineBackward(a, a, new Float32Array(1), null, a, c, c, 3, 2, 4)).toThrow(/s, ds and dt must each hold C/);
      expect(() => native.affineBackward(a, a, c, null, a, c, c, 3, 2.5, 4)).toThrow(/C must be an integer/);
    });
  });
  describe("affineBackwardTangent: the tangent of batch norm's backward pass, for a block of tangents, in one sweep", () => {
    /** [k, N, C, HW]: a single tangent and blocks, odd rows (lane tails), one channel, and one large enough for two threads. */
    const shapes: [number, number, number, number][] = [[1, 3, 5, 7], [3, 2, 1, 33], [2, 1, 4, 1], [1, 8, 16, 1031], [4, 4, 16, 263]];
    const inputs = (rng: Rng, [k, N, C, HW]: [number, number, number, number], nanWhereClosed = true) => {
      const n = N * C * HW;
      const g = randomArray(rng, n), x = randomArray(rng, n), y = randomArray(rng, n), tg = randomArray(rng, k * n), tx = randomArray(rng, k * n);
      // the mask's edge cases (zeros of both signs and NaN close it), NaN in g and tg where it closes
      y[0] = 0;
      if (n > 2) y[1] = -0;
      if (n > 3) y[2] = NaN;
      if (n > 4) {
        y[3] = -0.5;
        if (nanWhereClosed) {
          g[3] = NaN;
          tg[3] = NaN;
        }
      }
      return { g, x, y, tg, tx, s: rng.fillUniform(new Float32Array(C), 0.5, 2) as Float32Array, ts: randomArray(rng, k * C) };
    };
    /** With and without the mask, tx and ts: every combination the sweep compiles a loop for. */
    const variants = [false, true].flatMap((mask) => [false, true].flatMap((withTx) => [false, true].map((withTs) => ({ mask, withTx, withTs }))));
    type Variant = (typeof variants)[number];
    const run = (kern: typeof native, i: ReturnType<typeof inputs>, v: Variant, [k, N, C, HW]: [number, number, number, number]) => {
      const dgx = new Float32Array(k * N * C * HW).fill(9), dgs = new Float32Array(k * C).fill(9), dgt = new Float32Array(k * C).fill(9);
      kern.affineBackwardTangent(i.g, i.x, i.s, v.mask ? i.y : null, i.tg, v.withTx ? i.tx : null, v.withTs ? i.ts : null, dgx, dgs, dgt, k, N, C, HW);
      return { dgx, dgs, dgt };
    };

    it.each(isaConfigs())('gives the bits of the gates, the multiply-add and the reductions it replaces ($label)', (cfg) => {
      const rng = new Rng(60 + cfg.threads);
      for (const shape of shapes) {
        const [k, N, C, HW] = shape;
        const i = inputs(rng, shape);
        const block = [k, N, C, HW], one = [1, N, C, HW], perC = [1, 1, C, 1], perBlockC = [k, 1, C, 1];
        for (const v of variants) {
          const got = withConfig(cfg, () => run(native, i, v, shape));
          // the recorded rule's primitives, kernel by kernel: gm = gate(g), dgm = gate(tg), dgm·s + gm·ts, Σ dgm·x + Σ gm·tx, Σ dgm
          const gm = new Float32Array(N * C * HW), dgm = new Float32Array(k * N * C * HW), dgx = new Float32Array(dgm.length);
          const a1 = new Float32Array(k * C), a2 = new Float32Array(k * C), dgt = new Float32Array(k * C);
          withConfig(cfg, () => {
            if (v.mask) {
              native.binary(Elementwise.Gate, i.g, i.y, gm, geometry(one, [one, one]), false);
              native.binary(Elementwise.Gate, i.tg, i.y, dgm, geometry(block, [block, one]), false);
            } else {
              gm.set(i.g);
              dgm.set(i.tg);
            }
            if (v.withTs) native.muladd(dgm, i.s, gm, i.ts, null, dgx, geometry(block, [block, perC, one, perBlockC, block]), Muladd.Set);
            else native.binary(Elementwise.Mul, dgm, i.s, dgx, geometry(block, [block, perC]), false);
            native.reduce(dgm, i.x, a1, geometry(block, [block, one, perBlockC]));
            if (v.withTx) native.reduce(gm, i.tx, a2, geometry(block, [one, block, perBlockC]));
            native.reduce(dgm, null, dgt, geometry(block, [block, block, perBlockC]));
          });
          const dgs = v.withTx ? a1.map((a, j) => a + a2[j]!) : a1;
          const what = `${shape} ${JSON.stringify(v)}`;
          expect(firstDifference(got.dgx, dgx), `dgx ${what}`).toBe(-1);
          expect(firstDifference(got.dgs, dgs), `dgs ${what}`).toBe(-1);
          expect(firstDifference(got.dgt, dgt), `dgt ${what}`).toBe(-1);
          // the gate closes on NaN: +0 out, not NaN
          if (v.mask && N * C * HW > 4) expect(Object.is(got.dgx[3], 0)).toBe(true);
        }
      }
    });

    it.each(isaConfigs())('against the reference kernel ($label)', (cfg) => {
      const rng = new Rng(70 + cfg.threads);
      for (const shape of shapes) {
        const [k, N, C, HW] = shape;
        for (const v of variants) {
          const i = inputs(rng, shape, v.mask);
          const got = withConfig(cfg, () => run(native, i, v, shape));
          const want = run(referenceKernels, i, v, shape);
          expect(firstDifference(got.dgx, want.dgx), `dgx ${shape}`).toBe(-1);
          // float64 sums of float32 products, each rounded once (and the two of dgs added): lane order moves only the last bits
          const open = (j: number) => !v.mask || i.y[j]! > 0;
          const scaleOf = (f: (b: number, j: number) => number) =>
            Float32Array.from({ length: k * C }, (_, q) => {
              const b = Math.floor(q / C), c = q % C;
              let t = 0;
              for (let n = 0; n < N; n++) for (let h = 0; h < HW; h++) t += Math.abs(f(b, (n * C + c) * HW + h));
              return t;
            });
          const dgm = (b: number, j: number) => (open(j) ? i.tg[b * N * C * HW + j]! : 0);
          const gm = (j: number) => (open(j) ? i.g[j]! : 0);
          expectClose(got.dgs, want.dgs, scaleOf((b, j) => Math.abs(dgm(b, j) * i.x[j]!) + (v.withTx ? Math.abs(gm(j) * i.tx[b * N * C * HW + j]!) : 0)), 4, `dgs ${shape}`);
          expectClose(got.dgt, want.dgt, scaleOf(dgm), 2, `dgt ${shape}`);
        }
      }
    });

    it('refuses arrays too short for the block, the batch or the channels', () => {
      const n = 24, a = new Float32Array(n), b2 = new Float32Array(2 * n), c = new Float32Array(2), c2 = new Float32Array(4);
      const call = (over: Partial<Record<'g' | 'x' | 's' | 'mask' | 'tg' | 'tx' | 'ts' | 'dgx' | 'dgs' | 'dgt', Float32Array | null>>, k = 2, C: number = 2) => {
        const o = { g: a, x: a, s: c, mask: null, tg: b2, tx: b2, ts: c2, dgx: b2, dgs: c2, dgt: c2, ...over };
        return () => native.affineBackwardTangent(o.g!, o.x!, o.s!, o.mask, o.tg!, o.tx, o.ts, o.dgx!, o.dgs!, o.dgt!, k, 3, C, 4);
      };
      expect(call({})).not.toThrow();
      expect(call({ g: new Float32Array(23) })).toThrow(/g, x and mask must each hold N\*C\*HW values/);
      expect(call({ mask: new Float32Array(20) })).toThrow(/g, x and mask must each hold/);
      expect(call({ tg: a })).toThrow(/tg, tx and dgx must each hold k\*N\*C\*HW values/);
      expect(call({ tx: a })).toThrow(/tg, tx and dgx must each hold/);
      expect(call({ dgx: a })).toThrow(/tg, tx and dgx must each hold/);
      expect(call({ s: new Float32Array(1) })).toThrow(/s must hold C values/);
      expect(call({ ts: c })).toThrow(/ts, dgs and dgt must each hold k\*C values/);
      expect(call({ dgt: c })).toThrow(/ts, dgs and dgt must each hold k\*C values/);
      expect(call({}, 0)).toThrow(/k must be an integer >= 1/);
      expect(call({}, 2, 2.5)).toThrow(/C must be an integer/);
    });
  });
});

import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { configureNative, nativeInfo, nativeKernelChoice } from '../../src/kernels/native.js';
import { referenceKernels as ref } from '../../src/kernels/reference.js';
import { convOutputSize, type ConvGeometry } from '../../src/kernels/types.js';
import { Rng } from '../../src/tensor/rng.js';
import { bits } from '../helpers/bits.js';
import { abs, expectClose, nativeKernels, randomArray, viewAt } from './helpers.js';

const initialIsa = nativeInfo()?.isa;

afterEach(() => {
  if (initialIsa) configureNative({ isa: initialIsa });
});

const geometries: ConvGeometry[] = [
  { C: 2, H: 7, W: 9, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 },
  { C: 3, H: 32, W: 32, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
  { C: 4, H: 10, W: 10, kh: 1, kw: 1, sh: 2, sw: 2, ph: 0, pw: 0 },
  { C: 3, H: 11, W: 6, kh: 5, kw: 3, sh: 2, sw: 1, ph: 2, pw: 0 },
  { C: 2, H: 9, W: 40, kh: 5, kw: 5, sh: 1, sw: 3, ph: 2, pw: 2 },
  { C: 1, H: 6, W: 7, kh: 2, kw: 3, sh: 1, sw: 1, ph: 3, pw: 2 },
  { C: 2, H: 1, W: 19, kh: 1, kw: 3, sh: 1, sw: 1, ph: 0, pw: 0 },
  { C: 2, H: 4, W: 4, kh: 4, kw: 4, sh: 1, sw: 1, ph: 0, pw: 0 },
];

function colSize(g: ConvGeometry): number {
  const { Ho, Wo } = convOutputSize(g);
  return g.C * g.kh * g.kw * Ho * Wo;
}

const ISAS = ['generic', 'avx2', 'avx512'] as const;
/** What the addon detected (its default unless HESSE_ISA lowers it), and so every instruction set this machine can run. */
const bestIsa = nativeInfo()?.bestIsa ?? 'generic';
const runnable = ISAS.slice(0, ISAS.indexOf(bestIsa) + 1);

describe('the instruction sets the addon detects', () => {
  it('match the CPU flags the kernel reports, and those beyond them are refused', () => {
    nativeKernels(); // fails here, saying why, where the addon is not built
    const info = nativeInfo()!;
    // the addon asks the CPU (cpuid); Linux lists the same flags in /proc/cpuinfo
    if (process.platform === 'linux' && process.arch === 'x64') {
      const flags = new Set(/^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))![1]!.trim().split(/\s+/));
      const expected = flags.has('avx512f') ? 'avx512' : flags.has('avx2') && flags.has('fma') ? 'avx2' : 'generic';
      expect(info.bestIsa).toBe(expected);
    } else {
      expect(ISAS).toContain(info.bestIsa);
    }
    // the set in use is the one measured fastest here (stored per machine), or HESSE_ISA's
    expect(info.isa).toBe(process.env.HESSE_ISA || nativeKernelChoice()!.isa);
    for (const isa of ISAS.slice(runnable.length)) expect(() => configureNative({ isa }), isa).toThrow(RangeError);
  });
});

describe.each(runnable)('native im2col and col2im, %s (runnable here)', (isa) => {
  it('im2col equals the reference exactly, in subarray views', () => {
    nativeKernels();
    configureNative({ isa });
    expect(nativeInfo()!.isa).toBe(isa);
    const rng = new Rng(31);
    for (const g of geometries) {
      const x = randomArray(rng, g.C * g.H * g.W);
      const expected = new Float32Array(colSize(g));
      ref.im2col(x, g, expected);
      const col = viewAt(new Float32Array(expected.length).fill(NaN), 3);
      nativeKernels().im2col(viewAt(x, 2), g, col);
      expect(col).toEqual(expected);
    }
  });

  it('col2im accumulates into x exactly as the reference does', () => {
    nativeKernels();
    configureNative({ isa });
    expect(nativeInfo()!.isa).toBe(isa);
    const rng = new Rng(32);
    for (const g of geometries) {
      const col = randomArray(rng, colSize(g));
      const x0 = randomArray(rng, g.C * g.H * g.W);
      const expected = x0.slice();
      ref.col2im(col, g, expected);
      const scale = abs(x0);
      ref.col2im(abs(col), g, scale);
      const x = viewAt(x0, 1);
      nativeKernels().col2im(viewAt(col, 4), g, x);
      // each x element sums at most kh*kw col entries (in a different order than the reference)
      expectClose(x, expected, scale, g.kh * g.kw, `col2im ${JSON.stringify(g)}`);
    }
  });
});

describe.each(runnable.filter((isa) => isa !== 'generic'))('native stride-2 runs, %s (runnable here)', (isa) => {
  // The vector paths for stride 2 walk the same runs as the portable loops, so they must give
  // their bits exactly: im2col is a copy, col2im adds each entry once, in the same order (the odd
  // elements in between get -0.0 added, which leaves every float as it was, -0.0 included).
  const strided: ConvGeometry[] = [];
  for (const W of [15, 16, 17, 18, 31, 32, 33, 46, 49])
    for (const [k, p] of [[1, 0], [3, 1], [3, 0], [5, 2]] as const) strided.push({ C: 2, H: 5, W, kh: k, kw: k, sh: 2, sw: 2, ph: p, pw: p });

  const withZeros = (a: Float32Array) => a.map((v, i) => (i % 5 === 0 ? -0 : i % 7 === 0 ? 0 : v));

  it('copy (im2col) and add (col2im) with the portable loops\' bits, signed zeros included', () => {
    const k = nativeKernels();
    const rng = new Rng(34);
    for (const g of strided) {
      const x = withZeros(randomArray(rng, g.C * g.H * g.W));
      const col = withZeros(randomArray(rng, colSize(g)));
      const x0 = withZeros(randomArray(rng, x.length));
      const results = (['generic', isa] as const).map((set) => {
        configureNative({ isa: set });
        const unfolded = new Float32Array(col.length).fill(NaN);
        k.im2col(x, g, unfolded);
        const folded = x0.slice();
        k.col2im(col, g, folded);
        return { unfolded, folded };
      });
      expect(bits(results[1]!.unfolded), `im2col ${JSON.stringify(g)}`).toEqual(bits(results[0]!.unfolded));
      expect(bits(results[1]!.folded), `col2im ${JSON.stringify(g)}`).toEqual(bits(results[0]!.folded));
    }
    // a 1x1 stride-2 fold leaves the odd columns alone: -0.0 there stays -0.0
    configureNative({ isa });
    const g: ConvGeometry = { C: 1, H: 2, W: 40, kh: 1, kw: 1, sh: 2, sw: 2, ph: 0, pw: 0 };
    const folded = new Float32Array(80).fill(-0);
    k.col2im(new Float32Array(colSize(g)).fill(1), g, folded);
    for (let i = 0; i < 40; i++) expect(Object.is(folded[i], i % 2 === 0 ? 1 : -0), `column ${i}`).toBe(true);
  });
});

describe('col2im is the adjoint of im2col', () => {
  it('<col2im(c), x> = <c, im2col(x)> for every geometry', () => {
    const k = nativeKernels();
    const rng = new Rng(33);
    for (const g of geometries) {
      const x = randomArray(rng, g.C * g.H * g.W);
      const c = randomArray(rng, colSize(g));
      const unfolded = new Float32Array(c.length);
      k.im2col(x, g, unfolded);
      const folded = new Float32Array(x.length);
      k.col2im(c, g, folded);
      let lhs = 0;
      let rhs = 0;
      for (let i = 0; i < x.length; i++) lhs += folded[i]! * x[i]!;
      for (let i = 0; i < c.length; i++) rhs += c[i]! * unfolded[i]!;
      expect(lhs).toBeCloseTo(rhs, 4);
    }
  });
});

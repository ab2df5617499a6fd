import { describe, expect, it } from 'vitest';
import { configureNative, nativeInfo } from '../../src/kernels/native.js';
import { referenceKernels as ref } from '../../src/kernels/reference.js';
import { convOutputSize, type ConvGeometry } from '../../src/kernels/types.js';
import { Rng } from '../../src/tensor/rng.js';
import { bits } from '../helpers/bits.js';
import { abs, expectClose, nativeConfigs, nativeKernels, randomArray, restoreNativeSettingsAfterAll, viewAt, wholeTilesAbove } from './helpers.js';

restoreNativeSettingsAfterAll();

function geom(C: number, H: number, W: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): ConvGeometry {
  return { C, H, W, kh, kw, sh, sw, ph, pw };
}

/** Kernel sizes 1, 3, 5 (and non-square), strides 1-3, padding 0-3 (also larger than kernel-1), odd shapes. */
const cases: { N: number; O: number; g: ConvGeometry }[] = [
  { N: 3, O: 5, g: geom(2, 7, 9, 3, 3, 1, 1, 1, 1) },
  { N: 4, O: 16, g: geom(16, 12, 12, 3, 3, 1, 1, 1, 1) },
  { N: 3, O: 8, g: geom(6, 12, 10, 3, 3, 2, 2, 1, 1) },
  { N: 3, O: 12, g: geom(8, 10, 10, 1, 1, 2, 2, 0, 0) },
  { N: 2, O: 7, g: geom(3, 11, 6, 5, 3, 2, 1, 2, 0) },
  { N: 2, O: 9, g: geom(5, 9, 11, 5, 5, 1, 1, 2, 2) },
  { N: 2, O: 9, g: geom(5, 13, 17, 3, 5, 3, 2, 2, 1) },
  { N: 2, O: 4, g: geom(5, 6, 7, 2, 3, 1, 1, 3, 2) },
  { N: 2, O: 3, g: geom(4, 1, 9, 1, 3, 1, 1, 0, 0) },
  { N: 2, O: 3, g: geom(4, 9, 1, 3, 1, 2, 1, 1, 0) },
  { N: 5, O: 33, g: geom(40, 9, 10, 3, 2, 2, 3, 1, 2) },
  { N: 1, O: 70, g: geom(75, 5, 5, 3, 3, 1, 1, 1, 1) },
  { N: 2, O: 1, g: geom(1, 4, 4, 4, 4, 1, 1, 0, 0) },
  // output rows a whole number of strips wide (32 for AVX-512, 16 for AVX2, 8 portable): the one-padded-copy path
  { N: 2, O: 9, g: geom(3, 5, 32, 3, 3, 1, 1, 1, 1) },
  { N: 2, O: 5, g: geom(4, 6, 16, 3, 5, 1, 1, 1, 2) },
  { N: 2, O: 17, g: geom(2, 4, 34, 3, 3, 1, 1, 0, 0) },
  // output rows half a strip wide and an even number of them (16 for AVX-512, 8 for AVX2, 4 portable):
  // a strip is two output rows of the padded copy; with an odd number, the kw planes
  { N: 2, O: 9, g: geom(3, 8, 8, 3, 3, 1, 1, 1, 1) },
  { N: 3, O: 20, g: geom(5, 6, 4, 3, 3, 1, 1, 1, 1) },
  { N: 2, O: 6, g: geom(4, 7, 16, 3, 3, 1, 1, 1, 1) },
  { N: 2, O: 6, g: geom(3, 7, 8, 3, 3, 1, 1, 1, 1) },
];

function run(g: ConvGeometry, N: number, O: number, rng: Rng, label: string): void {
  const { Ho, Wo } = convOutputSize(g);
  const K = g.C * g.kh * g.kw;
  const x = randomArray(rng, N * g.C * g.H * g.W);
  const w = randomArray(rng, O * K);
  const gy = randomArray(rng, N * O * Ho * Wo);
  const what = `${label} N=${N} O=${O} ${JSON.stringify(g)}`;

  const y = new Float32Array(N * O * Ho * Wo);
  const yScale = new Float32Array(y.length);
  ref.conv2dForward(x, w, y, N, O, g);
  ref.conv2dForward(abs(x), abs(w), yScale, N, O, g);
  const yv = viewAt(new Float32Array(y.length).fill(NaN), 2);
  nativeKernels().conv2dForward(viewAt(x, 3), viewAt(w, 1), yv, N, O, g);
  expectClose(yv, y, yScale, K, `conv2dForward ${what}`);

  const gx = new Float32Array(x.length);
  const gxScale = new Float32Array(x.length);
  ref.conv2dBackwardInput(gy, w, gx, N, O, g);
  ref.conv2dBackwardInput(abs(gy), abs(w), gxScale, N, O, g);
  const gxv = viewAt(new Float32Array(x.length).fill(NaN), 1);
  nativeKernels().conv2dBackwardInput(viewAt(gy, 2), w, gxv, N, O, g);
  expectClose(gxv, gx, gxScale, O * g.kh * g.kw, `conv2dBackwardInput ${what}`);

  const gw = new Float32Array(w.length);
  const gwScale = new Float32Array(w.length);
  ref.conv2dBackwardWeight(gy, x, gw, N, O, g);
  ref.conv2dBackwardWeight(abs(gy), abs(x), gwScale, N, O, g);
  const gwv = viewAt(new Float32Array(w.length).fill(NaN), 4);
  nativeKernels().conv2dBackwardWeight(gy, viewAt(x, 5), gwv, N, O, g);
  expectClose(gwv, gw, gwScale, N * Ho * Wo, `conv2dBackwardWeight ${what}`);

  // accumulating: out += the result, onto whatever out held (the scale grows by |out|)
  const plus = (a: Float32Array, b: Float32Array) => a.map((v, i) => v + b[i]!);
  const y0 = randomArray(rng, y.length), gx0 = randomArray(rng, gx.length), gw0 = randomArray(rng, gw.length);
  const ya = viewAt(y0, 1), gxa = viewAt(gx0, 2), gwa = viewAt(gw0, 3);
  nativeKernels().conv2dForward(x, w, ya, N, O, g, true);
  nativeKernels().conv2dBackwardInput(gy, w, gxa, N, O, g, true);
  nativeKernels().conv2dBackwardWeight(gy, x, gwa, N, O, g, true);
  expectClose(ya, plus(y, y0), plus(yScale, abs(y0)), K + 1, `conv2dForward accumulating ${what}`);
  expectClose(gxa, plus(gx, gx0), plus(gxScale, abs(gx0)), O * g.kh * g.kw + 1, `conv2dBackwardInput accumulating ${what}`);
  expectClose(gwa, plus(gw, gw0), plus(gwScale, abs(gw0)), N * Ho * Wo + 1, `conv2dBackwardWeight accumulating ${what}`);
  // and the reference kernels, which the ops fall back on, the same
  const yr = y0.slice(), gxr = gx0.slice(), gwr = gw0.slice();
  ref.conv2dForward(x, w, yr, N, O, g, true);
  ref.conv2dBackwardInput(gy, w, gxr, N, O, g, true);
  ref.conv2dBackwardWeight(gy, x, gwr, N, O, g, true);
  expectClose(yr, plus(y, y0), plus(yScale, abs(y0)), K + 1, `reference conv2dForward accumulating ${what}`);
  expectClose(gxr, plus(gx, gx0), plus(gxScale, abs(gx0)), O * g.kh * g.kw + 1, `reference conv2dBackwardInput accumulating ${what}`);
  expectClose(gwr, plus(gw, gw0), plus(gwScale, abs(gw0)), N * Ho * Wo + 1, `reference conv2dBackwardWeight accumulating ${what}`);

  // a second pair (a jvp's two terms): against the reference's two convolutions, and with the bits
  // of the native second call that accumulates, overwriting and accumulating
  const x2 = randomArray(rng, x.length), w2 = randomArray(rng, w.length), gy2 = randomArray(rng, gy.length);
  for (const acc of [false, true]) {
    const yp = viewAt(acc ? y0 : new Float32Array(y.length).fill(NaN), 2), gxp = viewAt(acc ? gx0 : new Float32Array(gx.length).fill(NaN), 3);
    nativeKernels().conv2dForward(x, w, yp, N, O, g, acc, x2, w2);
    nativeKernels().conv2dBackwardInput(gy, w, gxp, N, O, g, acc, gy2, w2);
    const [yTwo, gxTwo] = [acc ? y0.slice() : new Float32Array(y.length), acc ? gx0.slice() : new Float32Array(gx.length)];
    nativeKernels().conv2dForward(x, w, yTwo, N, O, g, acc);
    nativeKernels().conv2dForward(x2, w2, yTwo, N, O, g, true);
    nativeKernels().conv2dBackwardInput(gy, w, gxTwo, N, O, g, acc);
    nativeKernels().conv2dBackwardInput(gy2, w2, gxTwo, N, O, g, true);
    expect(bits(yp), `conv2dForward with a second pair, accumulate ${acc}, ${what}`).toEqual(bits(yTwo));
    expect(bits(gxp), `conv2dBackwardInput with a second pair, accumulate ${acc}, ${what}`).toEqual(bits(gxTwo));
    const [yRef, yRefScale, gxRef, gxRefScale] = [acc ? y0.slice() : new Float32Array(y.length), acc ? abs(y0) : new Float32Array(y.length), acc ? gx0.slice() : new Float32Array(gx.length), acc ? abs(gx0) : new Float32Array(gx.length)];
    ref.conv2dForward(x, w, yRef, N, O, g, acc, x2, w2);
    ref.conv2dForward(abs(x), abs(w), yRefScale, N, O, g, true, abs(x2), abs(w2));
    ref.conv2dBackwardInput(gy, w, gxRef, N, O, g, acc, gy2, w2);
    ref.conv2dBackwardInput(abs(gy), abs(w), gxRefScale, N, O, g, true, abs(gy2), abs(w2));
    expectClose(yp, yRef, yRefScale, 2 * K + 1, `conv2dForward with a second pair, accumulate ${acc}, ${what}`);
    expectClose(gxp, gxRef, gxRefScale, 2 * O * g.kh * g.kw + 1, `conv2dBackwardInput with a second pair, accumulate ${acc}, ${what}`);
  }
}

/** Each configuration, and the own kernel's stride-1 convolutions both over one padded copy (rows) and over kw planes. */
const convConfigs = nativeConfigs().flatMap((c) => (c.gemm === 'own' ? [{ ...c, convRows: true }, { ...c, convRows: false, label: `${c.label}, planes` }] : [c]));

describe.each(convConfigs)('native convolution, $label', (cfg) => {
  it('matches the reference forward, input gradient and weight gradient on many geometries', () => {
    configureNative(cfg);
    const rng = new Rng(21);
    for (const c of cases) run(c.g, c.N, c.O, rng, cfg.label);
  });

  it('matches the reference at a ResNet-20 shape with a batch large enough to use both threads', () => {
    configureNative(cfg);
    run(geom(16, 16, 16, 3, 3, 1, 1, 1, 1), 6, 16, new Rng(22), cfg.label);
    run(geom(16, 16, 16, 3, 3, 2, 2, 1, 1), 6, 32, new Rng(23), cfg.label);
  });

  it('handles an empty batch: nothing to write, and a zero weight gradient', () => {
    configureNative(cfg);
    const g = geom(2, 5, 5, 3, 3, 1, 1, 1, 1);
    const gw = new Float32Array(4 * 18).fill(NaN);
    nativeKernels().conv2dBackwardWeight(new Float32Array(0), new Float32Array(0), gw, 0, 4, g);
    expect(gw.every((v) => v === 0)).toBe(true);
    nativeKernels().conv2dForward(new Float32Array(0), new Float32Array(72), new Float32Array(0), 0, 4, g);
    nativeKernels().conv2dBackwardInput(new Float32Array(0), new Float32Array(72), new Float32Array(0), 0, 4, g);
  });
});

describe.each(convConfigs.filter((c) => c.gemm === 'own'))('native convolution row tiles, $label', (cfg) => {
  // Each output channel (and each input channel of the input gradient, and each row of the weight
  // gradient) sums the same products in the same order whichever tile computes it, the narrower
  // AVX2 tail included: so the first channels come out with the same bits when more follow them.
  it('gives the first channels the same bits when channels are added after them', () => {
    configureNative(cfg);
    const rng = new Rng(26);
    for (const [N, C, O, H, k, s] of [[3, 16, 16, 8, 3, 1], [2, 16, 32, 16, 3, 2], [2, 5, 10, 7, 3, 1], [2, 3, 16, 9, 3, 1], [2, 6, 4, 10, 1, 2]] as const) {
      const g = geom(C, H, H, k, k, s, s, (k - 1) / 2, (k - 1) / 2);
      const { Ho, Wo } = convOutputSize(g);
      const [P, K, Ob, Cb] = [Ho * Wo, C * k * k, wholeTilesAbove(O), wholeTilesAbove(C)];
      const what = `N=${N} C=${C} O=${O} ${H}x${H} ${k}x${k} stride ${s}`;
      const x = randomArray(rng, N * C * H * H);
      const wBig = randomArray(rng, Ob * K); // Ob filters; the first O are the convolution's
      const gyBig = randomArray(rng, N * Ob * P);
      const gy = new Float32Array(N * O * P);
      for (let n = 0; n < N; n++) gy.set(gyBig.subarray(n * Ob * P, n * Ob * P + O * P), n * O * P);
      const w = wBig.subarray(0, O * K);

      const y = new Float32Array(N * O * P), yBig = new Float32Array(N * Ob * P);
      nativeKernels().conv2dForward(x, w, y, N, O, g);
      nativeKernels().conv2dForward(x, wBig, yBig, N, Ob, g);
      for (let n = 0; n < N; n++) expect(bits(y.subarray(n * O * P, (n + 1) * O * P)), `forward ${what}`).toEqual(bits(yBig.subarray(n * Ob * P, n * Ob * P + O * P)));

      const gw = new Float32Array(O * K), gwBig = new Float32Array(Ob * K);
      nativeKernels().conv2dBackwardWeight(gy, x, gw, N, O, g);
      nativeKernels().conv2dBackwardWeight(gyBig, x, gwBig, N, Ob, g);
      expect(bits(gw), `weight gradient ${what}`).toEqual(bits(gwBig.subarray(0, O * K)));

      // the input gradient over Cb input channels, the first C of them those above
      const gb = { ...g, C: Cb };
      const wIn = new Float32Array(O * Cb * k * k);
      for (let o = 0; o < O; o++) {
        wIn.set(w.subarray(o * K, (o + 1) * K), o * Cb * k * k);
        wIn.set(randomArray(rng, (Cb - C) * k * k), o * Cb * k * k + K);
      }
      const gx = new Float32Array(N * C * H * H), gxBig = new Float32Array(N * Cb * H * H);
      nativeKernels().conv2dBackwardInput(gy, w, gx, N, O, g);
      nativeKernels().conv2dBackwardInput(gy, wIn, gxBig, N, O, gb);
      const img = C * H * H;
      for (let n = 0; n < N; n++) expect(bits(gx.subarray(n * img, (n + 1) * img)), `input gradient ${what}`).toEqual(bits(gxBig.subarray(n * Cb * H * H, n * Cb * H * H + img)));
    }
  });
});

describe.each(nativeConfigs().filter((c) => c.gemm === 'own'))('native convolution over one padded copy, $label', (cfg) => {
  // The padded copy and the kw planes hand the micro-kernel the same B values in the same order,
  // strips of two output rows included, so the two give the same bits.
  it('gives the bits of the kw planes, output rows a strip wide or half a strip wide', () => {
    const rng = new Rng(27);
    for (const [N, C, O, H, W, kw] of [[3, 16, 32, 16, 16, 3], [2, 8, 16, 8, 8, 3], [2, 5, 12, 6, 4, 3], [2, 4, 8, 4, 32, 3], [2, 3, 8, 6, 18, 5]] as const) {
      const g = geom(C, H, W, 3, kw, 1, 1, 1, (kw - 1) / 2);
      const { Ho, Wo } = convOutputSize(g);
      const x = randomArray(rng, N * C * H * W), w = randomArray(rng, O * C * 3 * kw), gy = randomArray(rng, N * O * Ho * Wo);
      const convolve = (convRows: boolean) => {
        configureNative({ ...cfg, convRows });
        const y = new Float32Array(N * O * Ho * Wo), gx = new Float32Array(x.length);
        nativeKernels().conv2dForward(x, w, y, N, O, g);
        nativeKernels().conv2dBackwardInput(gy, w, gx, N, O, g);
        return { y, gx };
      };
      const rows = convolve(true), planes = convolve(false);
      const what = `N=${N} C=${C} O=${O} ${H}x${W} 3x${kw}`;
      expect(bits(rows.y), `forward ${what}`).toEqual(bits(planes.y));
      expect(bits(rows.gx), `input gradient ${what}`).toEqual(bits(planes.gx));
    }
  });
});

describe('native convolution results do not depend on the thread count', () => {
  it('gives bit-identical outputs and weight gradients for 1 and 2 threads', () => {
    const k = nativeKernels();
    const rng = new Rng(25);
    const g = geom(16, 16, 16, 3, 3, 1, 1, 1, 1);
    const [N, O] = [11, 16];
    const x = randomArray(rng, N * g.C * g.H * g.W);
    const w = randomArray(rng, O * 144);
    const gy = randomArray(rng, N * O * 256);
    for (const gemm of nativeInfo()!.blas ? (['own', 'blas'] as const) : (['own'] as const)) {
      const results = [1, 2].map((threads) => {
        configureNative({ gemm, threads });
        const y = new Float32Array(N * O * 256);
        const gx = new Float32Array(x.length);
        const gw = new Float32Array(w.length);
        k.conv2dForward(x, w, y, N, O, g);
        k.conv2dBackwardInput(gy, w, gx, N, O, g);
        k.conv2dBackwardWeight(gy, x, gw, N, O, g);
        return [y, gx, gw];
      });
      expect(results[1]).toEqual(results[0]);
    }
  });
});

describe('native convolution is a linear map and its gradients are its adjoints', () => {
  it('<conv(x, w), gy> = <x, backwardInput(gy, w)> = <w, backwardWeight(gy, x)>', () => {
    const k = nativeKernels();
    const rng = new Rng(24);
    for (const c of cases.slice(0, 8)) {
      const { N, O, g } = c;
      const { Ho, Wo } = convOutputSize(g);
      const x = randomArray(rng, N * g.C * g.H * g.W);
      const w = randomArray(rng, O * g.C * g.kh * g.kw);
      const gy = randomArray(rng, N * O * Ho * Wo);
      const y = new Float32Array(gy.length);
      const gx = new Float32Array(x.length);
      const gw = new Float32Array(w.length);
      k.conv2dForward(x, w, y, N, O, g);
      k.conv2dBackwardInput(gy, w, gx, N, O, g);
      k.conv2dBackwardWeight(gy, x, gw, N, O, g);
      const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);
      const lhs = dot(y, gy);
      expect(dot(x, gx)).toBeCloseTo(lhs, 3);
      expect(dot(w, gw)).toBeCloseTo(lhs, 3);
    }
  });
});

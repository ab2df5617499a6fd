import { expect } from 'vitest';
import { SecondOrderContext, valueAndGrad, type ObjectiveFn } from '../../src/autodiff/index.js';
import { Rng, sizeOf, type Shape } from '../../src/tensor/index.js';
import { relativeError } from './fixtures.js';

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

export interface DerivativeCheck {
  /** relative error allowed between autodiff and central differences */
  tol?: number;
  /** finite-difference step */
  h?: number;
  seed?: number;
  /** initial parameter values; normal(0, 1) by default */
  init?: (rng: Rng, theta: Float32Array) => void;
}

/**
 * Checks gradient and Hessian-vector products of `f` against central differences with Richardson
 * extrapolation (error O(h⁴)), differenced in float64. θ lies on a 2⁻¹² grid and h·v on a 2⁻¹⁰
 * grid, so θ ± h·v and θ ± 2h·v are exact in float32 and the displacement is exactly what the
 * formula assumes. Then symmetry u·Hv = v·Hu, linearity in v, and a block of tangents equal to
 * the single products.
 */
export function checkDerivatives(shapes: Shape[], f: ObjectiveFn, opts: DerivativeCheck = {}): void {
  const tol = opts.tol ?? 1e-3;
  const h = opts.h ?? 2 ** -6;
  const rng = new Rng(opts.seed ?? 1);
  const n = shapes.reduce((s, sh) => s + sizeOf(sh), 0);
  const theta = new Float32Array(n);
  if (opts.init) opts.init(rng, theta);
  else rng.fillNormal(theta);
  for (let i = 0; i < n; i++) theta[i] = Math.round(theta[i]! * 4096) / 4096;
  const ctx = new SecondOrderContext(theta, shapes, f);
  const g = ctx.gradient;
  expect(relativeError(g, valueAndGrad(theta, shapes, f).gradient)).toBeLessThan(1e-6);

  const dirs = [0, 1, 2].map(() => {
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = Math.round(rng.normal() * 16) / 16;
    return v;
  });
  const at = (v: Float32Array, t: number) => {
    const p = new Float32Array(n);
    for (let i = 0; i < n; i++) p[i] = theta[i]! + t * v[i]!;
    return valueAndGrad(p, shapes, f);
  };
  for (const v of dirs) {
    const [p1, m1, p2, m2] = [at(v, h), at(v, -h), at(v, 2 * h), at(v, -2 * h)];
    // first order: g·v = (8[L(θ+hv) − L(θ−hv)] − [L(θ+2hv) − L(θ−2hv)]) / 12h + O(h⁴)
    const fd1 = (8 * (p1.loss - m1.loss) - (p2.loss - m2.loss)) / (12 * h);
    const ad1 = dot(g, v);
    const scale1 = Math.max(Math.abs(ad1), 1e-3 * Math.sqrt(dot(g, g) * dot(v, v)), 1e-6);
    expect(Math.abs(fd1 - ad1) / scale1).toBeLessThan(tol);
    // second order: the same extrapolation on the gradients gives H·v
    const hv = ctx.hvp(v);
    const fd2 = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      fd2[i] = (8 * (p1.gradient[i]! - m1.gradient[i]!) - (p2.gradient[i]! - m2.gradient[i]!)) / (12 * h);
    }
    const hvNorm = Math.sqrt(dot(hv, hv));
    if (hvNorm > 1e-6) expect(relativeError(hv, fd2)).toBeLessThan(tol);
    else expect(Math.sqrt(dot(fd2, fd2))).toBeLessThan(1e-4);
  }

  const [u, v, w] = dirs as [Float32Array, Float32Array, Float32Array];
  const hu = ctx.hvp(u), hv = ctx.hvp(v);
  const sym = Math.abs(dot(u, hv) - dot(v, hu));
  expect(sym).toBeLessThanOrEqual(1e-5 * (Math.sqrt(dot(u, u) * dot(hv, hv)) + 1e-6));

  const combo = new Float32Array(n);
  for (let i = 0; i < n; i++) combo[i] = 2 * u[i]! - 3 * v[i]!;
  const hc = ctx.hvp(combo);
  const lin = new Float64Array(n);
  for (let i = 0; i < n; i++) lin[i] = 2 * hu[i]! - 3 * hv[i]!;
  if (Math.sqrt(dot(lin, lin)) > 1e-6) expect(relativeError(hc, lin)).toBeLessThan(1e-5);

  const block = ctx.hvpBlock([u, v, w]);
  const singles = [hu, hv, ctx.hvp(w)];
  block.forEach((b, j) => {
    const s = singles[j]!;
    if (Math.sqrt(dot(s, s)) > 1e-6) expect(relativeError(b, s)).toBeLessThan(1e-6);
    else expect(Math.sqrt(dot(b, b))).toBeLessThan(1e-6);
  });
}

import { describe, expect, it } from 'vitest';
import { hessianOperator } from '../../src/curvature/index.js';
import { loadStateDict } from '../../src/io/checkpoint.js';
import { asInt32Labels, asTensor } from '../../src/io/safetensors.js';
import { applyBlock, lanczosEigs, powerIteration, type LinearOperator } from '../../src/linalg/index.js';
import { mlp, resnet } from '../../src/nn/index.js';
import { loadCase, referenceIndex } from '../helpers/fixtures.js';

const isFixtureData = (k: string) => /^(input|target|v|expected)\./.test(k);

async function fixtureOperator(name: string) {
  const { meta, file } = await loadCase(name);
  const m = /^resnet(\d+)w(\d+)_(bn|nobn)_(res|nores)_(train|eval)$/.exec(name);
  const model = m
    ? resnet({ depth: Number(m[1]), width: Number(m[2]), batchNorm: m[3] === 'bn', residual: m[4] === 'res' })
    : mlp({ sizes: [6, 8, 5, 3], activation: name.slice(4) as 'tanh' });
  loadStateDict(model, file.tensors, meta.file, { ignore: isFixtureData });
  const batch = { x: asTensor(file.tensors.get('input.x')!), y: asInt32Labels(file.tensors.get('target.y')!) };
  return { meta, op: hessianOperator(model, batch, { bnMode: meta.mode }) };
}

/**
 * Σ e_iᵀ H e_i over every unit vector, 64 products a block (the operator's hvpBlock), in float64,
 * with Σ |e_iᵀ H e_i|, the scale of the sum's rounding.
 */
async function exactTrace(op: LinearOperator): Promise<{ trace: number; absolute: number }> {
  const n = op.size;
  let trace = 0;
  let absolute = 0;
  for (let start = 0; start < n; start += 64) {
    const units = Array.from({ length: Math.min(64, n - start) }, (_, j) => {
      const e = new Float32Array(n);
      e[start + j] = 1;
      return e;
    });
    (await applyBlock(op, units)).forEach((column, j) => {
      trace += column[start + j]!;
      absolute += Math.abs(column[start + j]!);
    });
  }
  return { trace, absolute };
}

const relative = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

// Tolerances a few times what the code achieves, measured as the largest error over the fixtures
// on every kernel path (HESSE_KERNELS=reference, HESSE_ISA=generic, avx2, avx512):
// - Lanczos's top three eigenvalues (tol 1e-6, so the convergence error is ~1e-12): 9.3e-7
//   relative, the float32 products' own error. Tolerance 3e-6.
// - power iteration on the MLPs (tol 1e-7 on the relative change): 8.2e-8. Tolerance 5e-7.
// - the exact trace: 1.2e-6 of Σ|H_ii|, the scale of its rounding (train-mode batch norm puts large
//   entries of both signs on the diagonal, Σ|H_ii| up to 7 |tr H| here, whose errors do not cancel
//   as the entries do; relative to |tr H| that case is 8.7e-6, every other one below 1e-6).
//   Tolerance 4e-6 of Σ|H_ii|, and the 1e-5 of |tr H| on every case as well.
const EIGENVALUE_TOL = 3e-6;
const POWER_TOL = 5e-7;
const TRACE_TOL = 4e-6;

async function expectExactTrace(op: LinearOperator, expected: number): Promise<void> {
  const { trace, absolute } = await exactTrace(op);
  expect(Math.abs(trace - expected)).toBeLessThan(TRACE_TOL * absolute);
  expect(Math.abs(trace - expected)).toBeLessThan(1e-5 * Math.abs(expected));
}

describe('algorithms on the PyTorch fixtures', () => {
  it.each(['mlp_tanh', 'mlp_relu', 'mlp_gelu', 'mlp_sigmoid'])('%s: top eigenvalues (Lanczos, power iteration) and the exact trace of the dense Hessian', async (name) => {
    const { meta, op } = await fixtureOperator(name);
    const exact = meta.eigenvalues_desc!;
    const l = await lanczosEigs(op, { k: 3, seed: 1, tol: 1e-6 });
    l.eigenvalues.forEach((v, i) => expect(relative(v, exact[i]!)).toBeLessThan(EIGENVALUE_TOL));
    const dominant = exact.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a));
    const p = await powerIteration(op, { topN: 1, seed: 1, maxIter: 1000, tol: 1e-7 });
    expect(p.converged[0]).toBe(true);
    expect(relative(p.eigenvalues[0]!, dominant)).toBeLessThan(POWER_TOL);
    await expectExactTrace(op, meta.trace!);
  });

  const resnets = Object.keys(referenceIndex.cases).filter((n) => n.startsWith('resnet8w2_'));
  it.each(resnets)('%s: top eigenvalues (Lanczos) and the exact trace of the dense Hessian', async (name) => {
    const { meta, op } = await fixtureOperator(name);
    const top = meta.top_eigenvalues!;
    const l = await lanczosEigs(op, { k: 3, seed: 2, tol: 1e-6, blockSize: 1 });
    expect(l.converged).toEqual([true, true, true]);
    l.eigenvalues.forEach((v, i) => expect(relative(v, top[i]!)).toBeLessThan(EIGENVALUE_TOL));
    await expectExactTrace(op, meta.trace!);
  });
});

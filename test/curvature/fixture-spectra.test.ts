import { describe, expect, it } from 'vitest';
import { hessianOperator } from '../../src/curvature/index.js';
import { loadStateDict } from '../../src/io/checkpoint.js';
import { asInt32Labels, asTensor } from '../../src/io/safetensors.js';
import { hutchinson, lanczosEigs, powerIteration } from '../../src/linalg/index.js';
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
  return { meta, file, op: hessianOperator(model, batch, { bnMode: meta.mode }) };
}

describe('algorithms on the PyTorch fixtures', () => {
  it.each(['mlp_tanh', 'mlp_relu', 'mlp_gelu', 'mlp_sigmoid'])('%s: top eigenvalues (Lanczos, power iteration) and trace from the dense Hessian', async (name) => {
    const { meta, op } = await fixtureOperator(name);
    const exact = meta.eigenvalues_desc!;
    const l = await lanczosEigs(op, { k: 3, seed: 1, tol: 1e-5 });
    l.eigenvalues.forEach((v, i) => expect(Math.abs(v - exact[i]!) / Math.abs(exact[i]!)).toBeLessThan(1e-3));
    const dominant = exact.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a));
    const p = await powerIteration(op, { topN: 1, seed: 1, maxIter: 1000, tol: 1e-7 });
    expect(Math.abs(p.eigenvalues[0]! - dominant) / Math.abs(dominant)).toBeLessThan(1e-2);
    const h = await hutchinson(op, { probes: 200, seed: 3 });
    expect(Math.abs(h.estimate - meta.trace!)).toBeLessThan(3 * h.standardError);
  });

  const resnets = Object.keys(referenceIndex.cases).filter((n) => n.startsWith('resnet8w4_'));
  it.each(resnets)('%s: top eigenvalues within 1%% and the exact trace within 3 standard errors', async (name) => {
    const { meta, op } = await fixtureOperator(name);
    const top = meta.top_eigenvalues!;
    const l = await lanczosEigs(op, { k: 3, seed: 2, tol: 1e-4, blockSize: 1 });
    l.eigenvalues.forEach((v, i) => expect(Math.abs(v - top[i]!) / Math.abs(top[i]!)).toBeLessThan(0.01));
    const h = await hutchinson(op, { probes: 100, seed: 4 });
    expect(Number.isFinite(h.standardError) && h.standardError > 0).toBe(true);
    expect(Math.abs(h.estimate - meta.trace!)).toBeLessThan(3 * h.standardError);
  });
});

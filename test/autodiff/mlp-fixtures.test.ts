import { describe, expect, it } from 'vitest';
import { constant, SecondOrderContext, valueAndGrad, type Node } from '../../src/autodiff/index.js';
import { asFloat32, asInt32Labels } from '../../src/io/safetensors.js';
import { activations, crossEntropy, linear, type Activation } from '../../src/ops/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { loadCase, relativeError } from '../helpers/fixtures.js';

async function mlpCase(act: Activation) {
  const { meta, file } = await loadCase(`mlp_${act}`);
  const get = (k: string) => file.tensors.get(k)!;
  const shapes = meta.param_order.map((k) => get(k).shape);
  const theta = new Float32Array(meta.n_params);
  let off = 0;
  for (const k of meta.param_order) {
    const d = asFloat32(get(k));
    theta.set(d, off);
    off += d.length;
  }
  const xT = get('input.x');
  const x = new Tensor(xT.shape, asFloat32(xT));
  const y = asInt32Labels(get('target.y'));
  const f = (p: Node[]) => {
    let h: Node = constant(x);
    for (let i = 0; i < 3; i++) {
      h = linear(h, p[2 * i]!, p[2 * i + 1]!);
      if (i < 2) h = activations[act](h);
    }
    return { loss: crossEntropy(h, y), outputs: h };
  };
  return { meta, get, shapes, theta, f };
}

// Largest relative errors against PyTorch's float64 over the four activations and every kernel
// path (HESSE_KERNELS=reference, HESSE_ISA=generic, avx2, avx512): loss 9.6e-8, logits 5.9e-8,
// gradient 2.5e-7, H·v 1.4e-7, dense Hessian 1.3e-7, its trace 8.9e-8. Tolerances three to six
// times those.
describe.each(['tanh', 'relu', 'gelu', 'sigmoid'] as const)('MLP fixture mlp_%s (PyTorch, float64)', (act) => {
  it('matches the loss, logits and gradient', async () => {
    const { meta, get, shapes, theta, f } = await mlpCase(act);
    const r = valueAndGrad(theta, shapes, f);
    expect(Math.abs(r.loss - meta.expected_loss) / meta.expected_loss).toBeLessThan(5e-7);
    expect(relativeError(r.outputs!.data, asFloat32(get('expected.logits')))).toBeLessThan(3e-7);
    expect(relativeError(r.gradient, asFloat32(get('expected.grad')))).toBeLessThan(1e-6);
  });

  it('matches H·v and the dense Hessian built column by column', async () => {
    const { meta, get, shapes, theta, f } = await mlpCase(act);
    const ctx = new SecondOrderContext(theta, shapes, f);
    const hv = ctx.hvp(asFloat32(get('v.0')));
    expect(relativeError(hv, asFloat32(get('expected.hvp.0')))).toBeLessThan(1e-6);
    const n = meta.n_params;
    const expected = asFloat32(get('expected.hessian'));
    const cols = Array.from({ length: n }, (_, i) => {
      const e = new Float32Array(n);
      e[i] = 1;
      return e;
    });
    const H = new Float32Array(n * n);
    // blocks of 17 tangents per pass: also exercises the block path against the fixture
    for (let s = 0; s < n; s += 17) {
      ctx.hvpBlock(cols.slice(s, s + 17)).forEach((col, j) => {
        for (let i = 0; i < n; i++) H[i * n + s + j] = col[i]!;
      });
    }
    expect(relativeError(H, expected)).toBeLessThan(1e-6);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += H[i * n + i]!;
    expect(Math.abs(trace - meta.trace!)).toBeLessThan(5e-7 * Math.abs(meta.trace!));
  });
});

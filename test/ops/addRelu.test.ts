import { afterEach, describe, expect, it } from 'vitest';
import { constant, SecondOrderContext, valueAndGrad, type Node } from '../../src/autodiff/index.js';
import { referenceKernels, setKernels, type Kernels } from '../../src/kernels/index.js';
import { loadNativeKernels } from '../../src/kernels/native.js';
import { resnet, secondOrder } from '../../src/nn/index.js';
import * as ops from '../../src/ops/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { bits } from '../helpers/bits.js';

/**
 * A residual block ends in relu(a + b); as one primitive its value and its tangent take one pass
 * each instead of two, and where its output is read more than once, the backward pass sums the
 * cotangents inside ReLU's gate (reluGradOfSum). A rewrite of the arithmetic, not an
 * approximation: the same bits as the two primitives and the summed cotangent, loss, gradient,
 * H·v and blocks, on every kernel set.
 */

const sets: [string, Kernels][] = [['reference', referenceKernels]];
const native = loadNativeKernels().kernels;
if (native) sets.push(['native', native]);

const shape = [3, 4, 5, 6];
const n = 3 * 4 * 5 * 6;

function readout(y: Node): Node {
  const a = constant(new Tensor(y.shape, new Rng(5).fillNormal(new Float32Array(y.value.size)) as Float32Array));
  return ops.sum(ops.add(ops.mul(a, y), ops.mul(y, y)));
}

function theta(seed: number, count: number): Float32Array {
  const t = new Rng(seed).fillNormal(new Float32Array(count)) as Float32Array;
  // sums of exactly 0 (the kink) and of -0, which both sides must treat alike
  t[0] = 0;
  t[n] = 0;
  t[1] = -0;
  if (count > n) t[n + 1] = -0;
  t[2] = 1.5;
  if (count > n) t[n + 2] = -1.5;
  return t;
}

function tapeNames(ctx: SecondOrderContext): (string | undefined)[] {
  return (ctx as unknown as { tape: { nodes: Node[] } }).tape.nodes.map((node) => node.op?.name);
}

describe('relu(a + b) as one primitive', () => {
  afterEach(() => setKernels(undefined));

  it.each(sets)('gives the bits of relu(add(a, b)): loss, gradient, H·v and a block, with both operands varying or one ($0 kernels)', (_name, set) => {
    setKernels(set);
    const b0 = constant(new Tensor(shape, new Rng(9).fillNormal(new Float32Array(n)) as Float32Array));
    const cases: [number[][], (f: (a: Node, b: Node) => Node) => (p: Node[]) => Node][] = [
      [[shape, shape], (f) => ([a, b]) => readout(f(a!, b!))],
      [[shape], (f) => ([a]) => readout(f(a!, b0))], // b's tangent is null
      [[shape], (f) => ([b]) => readout(f(b0, b!))], // a's tangent is null
      // both operands from one parameter (a residual block's shortcut is its input): the cotangents meet
      [[shape], (f) => ([a]) => readout(f(ops.mul(a!, a!), a!))],
    ];
    for (const [caseShapes, build] of cases) {
      const count = caseShapes.length * n;
      const th = theta(caseShapes.length + 1, count);
      const fused = new SecondOrderContext(th, caseShapes, build(ops.addRelu));
      const composed = new SecondOrderContext(th, caseShapes, build((a, b) => ops.relu(ops.add(a, b))));
      expect(tapeNames(fused)).toContain('addRelu');
      expect(tapeNames(fused)).not.toContain('relu');
      // the readout reads y three times: its cotangent's parts are summed and gated in one primitive
      expect(tapeNames(fused)).toContain('reluGradOfSum');
      expect(tapeNames(fused)).not.toContain('reluGrad');
      expect(fused.loss).toBe(composed.loss);
      expect(bits(fused.gradient)).toEqual(bits(composed.gradient));
      expect(bits(valueAndGrad(th, caseShapes, build(ops.addRelu)).gradient)).toEqual(bits(composed.gradient));
      const vs = [1, 2, 3].map((k) => new Rng(k + count).fillNormal(new Float32Array(count)) as Float32Array);
      const hv = fused.hvp(vs[0]!);
      expect(bits(hv)).toEqual(bits(composed.hvp(vs[0]!)));
      expect(Array.from(hv).some((x) => x !== 0)).toBe(true);
      const want = composed.hvpBlock(vs);
      fused.hvpBlock(vs).forEach((p, k) => expect(bits(p), `block ${k}`).toEqual(bits(want[k]!)));
    }
  });

  it('its value is relu of the sum, NaN kept and -0 to +0, as the Max kind gives it', () => {
    const a = constant(new Tensor([5], Float32Array.of(NaN, -0, 1, -2, 0))), b = constant(new Tensor([5], Float32Array.of(1, -0, 2, 1, 0)));
    const y = ops.addRelu(a, b).value.data;
    expect(Number.isNaN(y[0])).toBe(true);
    expect(Object.is(y[1], 0)).toBe(true); // -0 + -0 = -0, then max(-0, 0) = +0
    expect(Array.from(y.subarray(2))).toEqual([3, 0, 0]);
  });

  it('operands that broadcast take add and relu, with the same numbers', () => {
    const a = constant(new Tensor([2, 3], Float32Array.of(-1, 2, -3, 4, -5, 6))), b = constant(new Tensor([3], Float32Array.of(1.5, -2.5, 3.5)));
    const y = ops.addRelu(a, b);
    expect(y.op?.name).toBe('relu');
    expect(Array.from(y.value.data)).toEqual([0.5, 0, 0.5, 5.5, 0, 9.5]);
  });

  it("a ResNet's residual blocks end in it, and a block's output takes its two cotangents in one pass", () => {
    const model = resnet({ depth: 8, width: 4, seed: 3 });
    const rng = new Rng(8);
    const batch = { x: new Tensor([6, 3, 8, 8], rng.fillNormal(new Float32Array(6 * 3 * 64)) as Float32Array), y: Int32Array.from({ length: 6 }, (_, i) => i % 10) };
    const ctx = secondOrder(model, batch, { bnMode: 'eval' });
    // depth 8: three residual blocks
    const names = tapeNames(ctx as unknown as SecondOrderContext);
    expect(names.filter((name) => name === 'addRelu')).toHaveLength(3);
    // the first two blocks' outputs feed the next block twice (convolution and shortcut): their
    // cotangents are summed inside ReLU's backward; the last block's feeds the pooling alone
    expect(names.filter((name) => name === 'reluGradOfSum')).toHaveLength(2);
    expect(names.filter((name) => name === 'reluGrad')).toHaveLength(1);
    // the stem's BN + ReLU and each block's first are channelAffineRelu: no ReLU of its own is left
    expect(names).not.toContain('relu');
  });
});

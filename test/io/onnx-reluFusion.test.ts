import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Node } from '../../src/autodiff/index.js';
import { loadModel } from '../../src/io/index.js';
import { lossAndGradient, secondOrder } from '../../src/nn/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { bits } from '../helpers/bits.js';
import { relativeError } from '../helpers/fixtures.js';
import { f, writeGraph, type GraphSpec, type NodeSpec, type TensorSpec } from '../helpers/onnxGraphs.js';

/**
 * A Relu right after an Add or a BatchNormalization is folded into it at import: hesse's one-pass
 * relu(a + b) and batch norm + ReLU primitives. Only where the value before the Relu goes nowhere
 * else; the numbers are those of the two nodes (the same graph with an Identity in between, which
 * keeps them apart).
 */

const dir = mkdtempSync(join(tmpdir(), 'hesse-onnx-relu-'));
const uniform = (dims: number[], seed: number, lo = -1, hi = 1): TensorSpec => ({
  dims,
  data: Array.from(new Rng(seed).fillUniform(new Float32Array(dims.reduce((p, d) => p * d, 1)), lo, hi)),
});

/**
 * BN → Relu and Add → Relu (both folded), an Add whose sum is also read by a Mul (not folded), and
 * a broadcasting Add → Relu (folded, but relu(add) inside: addRelu takes operands of one shape);
 * with `apart`, an Identity before each Relu.
 */
function graph(apart: boolean): GraphSpec {
  const relu = (from: string, to: string): NodeSpec[] =>
    apart ? [{ op: 'Identity', inputs: [from], outputs: [`${from}_id`] }, { op: 'Relu', inputs: [`${from}_id`], outputs: [to] }] : [{ op: 'Relu', inputs: [from], outputs: [to] }];
  return {
    opset: 17,
    input: { name: 'x', dims: ['n', 2, 3, 3] },
    output: 'y',
    initializers: {
      scale: uniform([2], 1, 0.5, 1.5), bias: uniform([2], 2), mean: uniform([2], 3), var: uniform([2], 4, 0.5, 2),
      w: uniform([2, 3, 3], 5), w2: uniform([2, 3, 3], 6), v: uniform([2, 1, 1], 7),
    },
    nodes: [
      { op: 'BatchNormalization', inputs: ['x', 'scale', 'bias', 'mean', 'var'], outputs: ['b'], attrs: [f('epsilon', 1e-5)] },
      ...relu('b', 'rb'),
      { op: 'Mul', inputs: ['rb', 'w'], outputs: ['c1'] },
      { op: 'Add', inputs: ['rb', 'c1'], outputs: ['s1'] }, // a residual sum: two operands of one shape
      ...relu('s1', 'r1'),
      { op: 'Mul', inputs: ['r1', 'w2'], outputs: ['c2'] },
      { op: 'Add', inputs: ['r1', 'c2'], outputs: ['s2'] },
      ...relu('s2', 'r2'),
      { op: 'Mul', inputs: ['s2', 'v'], outputs: ['m'] }, // s2 goes to the Relu and here: not folded
      { op: 'Add', inputs: ['r2', 'm'], outputs: ['t0'] },
      { op: 'Add', inputs: ['t0', 'w'], outputs: ['t1'] },
      ...relu('t1', 't'),
      { op: 'GlobalAveragePool', inputs: ['t'], outputs: ['g'] },
      { op: 'Flatten', inputs: ['g'], outputs: ['y'] },
    ],
  };
}

function tapeNames(ctx: unknown): string[] {
  return (ctx as { tape: { nodes: Node[] } }).tape.nodes.map((n) => n.op?.name).filter((n): n is string => !!n);
}

describe('a Relu after an Add or a BatchNormalization, folded in at import', () => {
  const n = 5;
  const x = new Rng(11).fillNormal(new Float32Array(n * 2 * 9)) as Float32Array;
  const batch = { x: new Tensor([n, 2, 3, 3], x), y: Int32Array.of(0, 1, 1, 0, 1) };

  it('records the one-pass primitives where the value goes to the Relu alone, and the two nodes where it does not', async () => {
    const fused = await loadModel(writeGraph(join(dir, 'fused.onnx'), graph(false)));
    const names = tapeNames(secondOrder(fused.model, batch, { bnMode: 'eval' }));
    expect(names.filter((k) => k === 'channelAffineRelu')).toHaveLength(1);
    expect(names.filter((k) => k === 'addRelu')).toHaveLength(1);
    expect(names.filter((k) => k === 'relu')).toHaveLength(2); // s2's, read twice, and the broadcasting sum's
    const apart = await loadModel(writeGraph(join(dir, 'apart.onnx'), graph(true)));
    const namesApart = tapeNames(secondOrder(apart.model, batch, { bnMode: 'eval' }));
    expect(namesApart).not.toContain('addRelu');
    expect(namesApart).not.toContain('channelAffineRelu');
    expect(namesApart.filter((k) => k === 'relu')).toHaveLength(4);
  });

  it.each(['eval', 'train'] as const)('the same loss, gradient, H·v and block as the two nodes, bit for bit, and the forward of ONNX Runtime (BN mode %s)', async (bnMode) => {
    const fused = await loadModel(writeGraph(join(dir, `fused-${bnMode}.onnx`), graph(false)));
    const apart = await loadModel(writeGraph(join(dir, `apart-${bnMode}.onnx`), graph(true)));
    const a = lossAndGradient(fused.model, batch, { bnMode }), b = lossAndGradient(apart.model, batch, { bnMode });
    expect(a.loss).toBe(b.loss);
    expect(bits(a.logits.data)).toEqual(bits(b.logits.data));
    expect(bits(a.gradient)).toEqual(bits(b.gradient));
    const ca = secondOrder(fused.model, batch, { bnMode }), cb = secondOrder(apart.model, batch, { bnMode });
    const vs = [1, 2].map((s) => new Rng(s + 20).fillNormal(new Float32Array(fused.model.size)) as Float32Array);
    const hv = ca.hvp(vs[0]!);
    expect(bits(hv)).toEqual(bits(cb.hvp(vs[0]!)));
    expect(hv.some((e) => e !== 0)).toBe(true);
    const want = cb.hvpBlock(vs);
    ca.hvpBlock(vs).forEach((p, k) => expect(bits(p), `block ${k}`).toEqual(bits(want[k]!)));
    if (bnMode === 'eval') {
      const session = await ort.InferenceSession.create(join(dir, 'fused-eval.onnx'));
      const out = (await session.run({ x: new ort.Tensor('float32', x, [n, 2, 3, 3]) }))[session.outputNames[0]!]!;
      expect(relativeError(a.logits.data, out.data as Float32Array)).toBeLessThan(1e-6);
    }
  });
});

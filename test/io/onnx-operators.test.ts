import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { constant, type Node } from '../../src/autodiff/index.js';
import { loadModel } from '../../src/io/index.js';
import * as ops from '../../src/ops/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { checkDerivatives } from '../helpers/derivatives.js';
import { relativeError } from '../helpers/fixtures.js';
import { f, i, ints, s, shapeArithmeticGraph, tensorAttr, writeGraph, type GraphSpec, type TensorSpec } from '../helpers/onnxGraphs.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-onnx-ops-'));

function readout(y: Node): Node {
  const rng = new Rng(99);
  const a = constant(new Tensor(y.shape, rng.fillNormal(new Float32Array(y.value.size)) as Float32Array));
  const b = constant(new Tensor(y.shape, rng.fillUniform(new Float32Array(y.value.size), 0.1, 0.5) as Float32Array));
  return ops.sum(ops.add(ops.mul(a, y), ops.mul(b, ops.mul(y, y))));
}

let seed = 1;
const param = (dims: number[], lo = -1, hi = 1): TensorSpec => ({ dims, data: Array.from(new Rng(seed++).fillUniform(new Float32Array(dims.reduce((p, d) => p * d, 1)), lo, hi)) });
const ints64 = (values: number[]): TensorSpec => ({ dims: [values.length], type: 7, data: values });
const scalar = (v: number): TensorSpec => ({ dims: [], data: [v] });

interface Case {
  name: string;
  graph: GraphSpec;
  /** initial parameter values for the derivative check (default normal(0, 1)) */
  init?: (rng: Rng, t: Float32Array) => void;
  h?: number;
  /** the parameters the importer must find, in order (the other initialisers are buffers) */
  parameters?: string[];
}

const x3 = { name: 'x', dims: ['n', 3, 4] };
const cases: Case[] = [
  {
    name: 'Add, Sub, Mul, Div with broadcasting; a Constant node',
    graph: {
      opset: 17, input: x3, output: 'y',
      initializers: { a: param([3, 1]), b: param([4]) },
      nodes: [
        { op: 'Constant', inputs: [], outputs: ['one'], attrs: [tensorAttr('value', scalar(1))] },
        { op: 'Sub', inputs: ['x', 'a'], outputs: ['d'] },
        { op: 'Mul', inputs: ['d', 'b'], outputs: ['m'] },
        { op: 'Mul', inputs: ['b', 'b'], outputs: ['bb'] },
        { op: 'Add', inputs: ['bb', 'one'], outputs: ['den'] },
        { op: 'Div', inputs: ['m', 'den'], outputs: ['q'] },
        { op: 'Add', inputs: ['q', 'a'], outputs: ['y'] },
      ],
    },
  },
  {
    name: 'Pow with a parameter exponent, Sqrt, Reciprocal, Log, Exp, Neg',
    graph: {
      opset: 17, input: x3, output: 'y',
      initializers: { w: param([4], 0.5, 1.5), p: param([4], 0.5, 1.5) },
      nodes: [
        { op: 'Mul', inputs: ['x', 'x'], outputs: ['xx'] },
        { op: 'Add', inputs: ['xx', 'w'], outputs: ['t'] },
        { op: 'Pow', inputs: ['t', 'p'], outputs: ['tp'] },
        { op: 'Sqrt', inputs: ['t'], outputs: ['st'] },
        { op: 'Reciprocal', inputs: ['st'], outputs: ['r'] },
        { op: 'Log', inputs: ['t'], outputs: ['l'] },
        { op: 'Neg', inputs: ['l'], outputs: ['nl'] },
        { op: 'Exp', inputs: ['nl'], outputs: ['e'] },
        { op: 'Mul', inputs: ['tp', 'r'], outputs: ['m'] },
        { op: 'Add', inputs: ['m', 'e'], outputs: ['y'] },
      ],
    },
    init: (rng, t) => rng.fillUniform(t, 0.5, 1.5),
  },
  {
    name: 'Softmax over a middle axis, Tanh, Sigmoid, Softplus, LeakyRelu, Erf, Gelu (tanh and exact forms)',
    graph: {
      opset: 20, input: x3, output: 'y',
      initializers: { w: param([4]) },
      nodes: [
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['xw'] },
        { op: 'Softmax', inputs: ['xw'], outputs: ['sm'], attrs: [i('axis', 1)] },
        { op: 'Tanh', inputs: ['xw'], outputs: ['a'] },
        { op: 'Sigmoid', inputs: ['a'], outputs: ['b'] },
        { op: 'Softplus', inputs: ['xw'], outputs: ['c'] },
        { op: 'LeakyRelu', inputs: ['xw'], outputs: ['d'], attrs: [f('alpha', 0.2)] },
        { op: 'Erf', inputs: ['xw'], outputs: ['e'] },
        { op: 'Gelu', inputs: ['xw'], outputs: ['g'], attrs: [s('approximate', 'tanh')] },
        { op: 'Gelu', inputs: ['a'], outputs: ['ge'] },
        { op: 'Add', inputs: ['sm', 'b'], outputs: ['s0'] },
        { op: 'Add', inputs: ['s0', 'ge'], outputs: ['s1'] },
        { op: 'Add', inputs: ['s1', 'c'], outputs: ['s2'] },
        { op: 'Add', inputs: ['s2', 'd'], outputs: ['s3'] },
        { op: 'Add', inputs: ['s3', 'e'], outputs: ['s4'] },
        { op: 'Add', inputs: ['s4', 'g'], outputs: ['y'] },
      ],
    },
    init: (rng, t) => {
      for (let k = 0; k < t.length; k++) t[k] = rng.rademacher() * (0.4 + rng.uniform());
    },
    h: 2 ** -10,
  },
  {
    name: 'LogSoftmax of opset 11 (coerced to 2-D at the axis)',
    graph: {
      opset: 11, input: x3, output: 'y',
      initializers: { w: param([3, 4]) },
      nodes: [
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['xw'] },
        { op: 'LogSoftmax', inputs: ['xw'], outputs: ['y'], attrs: [i('axis', 1)] },
      ],
    },
  },
  {
    name: 'ReduceSum over two axes (axes input, no keepdims), ReduceMean (axes attribute)',
    graph: {
      opset: 13, input: x3, output: 'y',
      initializers: { w: param([3, 4]), axes: ints64([0, 2]) },
      nodes: [
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['xw'] },
        { op: 'Mul', inputs: ['xw', 'xw'], outputs: ['sq'] },
        { op: 'ReduceSum', inputs: ['sq', 'axes'], outputs: ['rs'], attrs: [i('keepdims', 0)] },
        { op: 'ReduceMean', inputs: ['xw'], outputs: ['rm'], attrs: [ints('axes', [-1]), i('keepdims', 0)] },
        { op: 'Add', inputs: ['rs', 'rm'], outputs: ['y'] },
      ],
    },
  },
  {
    name: 'Split, Concat, Slice with a negative step, Transpose, Squeeze, Unsqueeze, Flatten, Tile, Expand',
    graph: {
      opset: 13, input: x3, output: 'y',
      initializers: {
        w: param([3, 4]), split: ints64([1, 2]), st: ints64([3]), en: ints64([-100]), ax: ints64([2]), stp: ints64([-2]),
        one: ints64([1]), reps: ints64([1, 3, 1]), shape: ints64([2, 1, 3, 4]),
      },
      nodes: [
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['xw'] },
        { op: 'Split', inputs: ['xw', 'split'], outputs: ['p', 'q'], attrs: [i('axis', 1)] },
        { op: 'Concat', inputs: ['q', 'p', 'q'], outputs: ['c'], attrs: [i('axis', 1)] },
        { op: 'Slice', inputs: ['c', 'st', 'en', 'ax', 'stp'], outputs: ['sl'] },
        { op: 'Transpose', inputs: ['sl'], outputs: ['tr'], attrs: [ints('perm', [2, 0, 1])] },
        { op: 'Unsqueeze', inputs: ['tr', 'one'], outputs: ['un'] },
        { op: 'Squeeze', inputs: ['un', 'one'], outputs: ['sq'] },
        { op: 'Flatten', inputs: ['sq'], outputs: ['fl'], attrs: [i('axis', 2)] },
        { op: 'Tile', inputs: ['p', 'reps'], outputs: ['ti'] },
        { op: 'Expand', inputs: ['ti', 'shape'], outputs: ['ex'] },
        { op: 'ReduceSum', inputs: ['fl'], outputs: ['r1'], attrs: [i('keepdims', 0)] },
        { op: 'Add', inputs: ['ex', 'r1'], outputs: ['y'] },
      ],
    },
  },
  {
    name: 'Gather along axis 1 of a computed tensor, Where with a constant mask, Trilu, Pad (value 0.5, asymmetric)',
    graph: {
      opset: 14, input: x3, output: 'y',
      initializers: {
        w: param([3, 4]), idx: ints64([2, 0, 2]), mask: { dims: [3, 4], type: 9, data: [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1] },
        pads: ints64([0, 1, 0, 0, 0, 2]), pv: scalar(0.5),
      },
      nodes: [
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['xw'] },
        { op: 'Gather', inputs: ['xw', 'idx'], outputs: ['g'], attrs: [i('axis', 1)] },
        { op: 'Tanh', inputs: ['xw'], outputs: ['t'] },
        { op: 'Where', inputs: ['mask', 'xw', 't'], outputs: ['wh'] },
        { op: 'Trilu', inputs: ['wh'], outputs: ['tl'], attrs: [i('upper', 0)] },
        { op: 'Add', inputs: ['tl', 'g'], outputs: ['a'] },
        { op: 'Pad', inputs: ['a', 'pads', 'pv'], outputs: ['y'] },
      ],
    },
  },
  {
    name: 'a causal mask as a float initialiser, sliced and compared with 0 (nanoGPT\'s bias buffer); Dropout with its ratio as an initialiser',
    graph: {
      opset: 14, input: x3, output: 'y',
      initializers: {
        w: param([4]),
        causal: { dims: [5, 4], data: [1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1] },
        starts: ints64([0]), ends: ints64([3]), axes: ints64([0]), zero: scalar(0), ratio: scalar(0.1),
      },
      nodes: [
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['xw'] },
        { op: 'Slice', inputs: ['causal', 'starts', 'ends', 'axes'], outputs: ['cm'] },
        { op: 'Equal', inputs: ['cm', 'zero'], outputs: ['masked'] },
        { op: 'Constant', inputs: [], outputs: ['fill'], attrs: [tensorAttr('value', scalar(-3))] },
        { op: 'Where', inputs: ['masked', 'fill', 'xw'], outputs: ['wh'] },
        { op: 'Dropout', inputs: ['wh', 'ratio'], outputs: ['y'] },
      ],
    },
    parameters: ['w'],
  },
  {
    name: 'MatMul batched (3-D × 3-D) and vector × matrix; Gemm with transA, alpha, beta and a matrix C',
    graph: {
      // transA makes the batch a contracted dimension: the graph fits batches of 2 only, as it declares
      opset: 17, input: { name: 'x', dims: [2, 3, 4] }, output: 'y',
      initializers: { b: param([1, 4, 2]), v: param([3]), g: param([3, 2]), c: param([2, 3]) },
      nodes: [
        { op: 'MatMul', inputs: ['x', 'b'], outputs: ['m'] },
        { op: 'MatMul', inputs: ['v', 'm'], outputs: ['vm'] },
        { op: 'Gemm', inputs: ['vm', 'g', 'c'], outputs: ['gm'], attrs: [i('transA', 1), i('transB', 1), f('alpha', 0.7), f('beta', 1.3)] },
        { op: 'MatMul', inputs: ['gm', 'v'], outputs: ['y'] },
      ],
    },
  },
  {
    name: 'Conv 1-D; Conv with auto_pad SAME_UPPER, stride 2 and groups; AveragePool with and without padding',
    graph: {
      opset: 17, input: { name: 'x', dims: ['n', 4, 7, 7] }, output: 'y',
      initializers: { w1: param([4, 2, 3, 3]), b1: param([4]), w2: param([4, 4, 1, 3]), w3: param([2, 4, 3]), rs: ints64([0, 4, -1]) },
      nodes: [
        { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attrs: [s('auto_pad', 'SAME_UPPER'), ints('strides', [2, 2]), i('group', 2)] },
        { op: 'AveragePool', inputs: ['c1'], outputs: ['ap'], attrs: [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), i('count_include_pad', 1)] },
        { op: 'AveragePool', inputs: ['ap'], outputs: ['mp'], attrs: [ints('kernel_shape', [2, 2]), ints('strides', [1, 1])] },
        { op: 'Conv', inputs: ['mp', 'w2'], outputs: ['c2'], attrs: [ints('pads', [0, 1, 0, 1])] },
        { op: 'Reshape', inputs: ['c2', 'rs'], outputs: ['f2'] },
        { op: 'Conv', inputs: ['f2', 'w3'], outputs: ['y'], attrs: [ints('pads', [1, 1]), ints('dilations', [2])] },
      ],
    },
    h: 2 ** -10,
  },
  {
    // the window maxima of the data: piecewise constant in nothing the derivative check moves
    name: 'MaxPool (overlapping windows, padding)',
    graph: {
      opset: 17, input: { name: 'x', dims: ['n', 2, 6, 6] }, output: 'y',
      initializers: { w: param([2, 1, 1]) },
      nodes: [
        { op: 'MaxPool', inputs: ['x'], outputs: ['mp'], attrs: [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])] },
        { op: 'Mul', inputs: ['mp', 'w'], outputs: ['y'] },
      ],
    },
  },
  {
    name: 'BatchNormalization on [N, C] and [N, C, L] (eval), LayerNormalization over the last two axes',
    graph: {
      opset: 17, input: x3, output: 'y',
      initializers: {
        g: param([3], 0.5, 1.5), b: param([3]), mean: param([3]), var: param([3], 0.5, 1.5),
        g2: param([3, 4], 0.5, 1.5), b2: param([3, 4]),
      },
      nodes: [
        { op: 'BatchNormalization', inputs: ['x', 'g', 'b', 'mean', 'var'], outputs: ['bn'], attrs: [f('epsilon', 1e-3)] },
        { op: 'ReduceMean', inputs: ['bn'], outputs: ['m2'], attrs: [ints('axes', [2]), i('keepdims', 0)] },
        { op: 'BatchNormalization', inputs: ['m2', 'g', 'b', 'mean', 'var'], outputs: ['bn2'] },
        { op: 'LayerNormalization', inputs: ['bn', 'g2', 'b2'], outputs: ['ln'], attrs: [i('axis', -2)] },
        { op: 'Unsqueeze', inputs: ['bn2'], outputs: ['u'], attrs: [] },
        { op: 'Identity', inputs: ['ln'], outputs: ['id'] },
        { op: 'Dropout', inputs: ['id'], outputs: ['y'] },
      ],
    },
  },
];
// the Unsqueeze above needs its axes: opset 13+ takes them as an input
cases[cases.length - 1]!.graph.initializers!.uax = ints64([2]);
cases[cases.length - 1]!.graph.nodes[4]!.inputs.push('uax');
cases[cases.length - 1]!.graph.nodes.push({ op: 'Add', inputs: ['y', 'u'], outputs: ['z'] });
cases[cases.length - 1]!.graph.output = 'z';

// Cases added later go at the end, so that the cases above keep their initialisers (`seed`).

/**
 * Values on a grid of step 1/8, one per element of `dims`, all different (a shuffled grid), as a
 * Constant node's tensor: an offset that keeps a max or a kink away from the values the
 * derivative check visits.
 */
function spreadGrid(dims: number[], symmetric: boolean): TensorSpec {
  const n = dims.reduce((p, d) => p * d, 1);
  const perm = new Rng(4242).permutation(n);
  // symmetric: ±(k + 1/2)/8, never within 1/16 of 0; otherwise k/8 − n/16, distinct by 1/8
  const data = Array.from(perm, (k, j) => (symmetric ? (j % 2 ? 1 : -1) * (k + 0.5) / 8 : k / 8 - n / 16));
  return { dims, data };
}
// The derivative check moves each parameter by at most 2h·|v| ≈ 0.012 (h = 2⁻¹⁰, |v| < 6), the
// small parameters start within 2⁻⁵ of 0, and the data enters scaled by 2⁻⁷: each input to the
// pool or the Relu moves less than 0.051 from its grid value, so no window's maximum changes hands
// (grid values 1/8 apart) and no Relu input crosses 0 (grid values at least 1/16 from it).
const smallThenNormal = (small: number) => (rng: Rng, t: Float32Array) => {
  for (let k = 0; k < t.length; k++) t[k] = k < small ? (2 * rng.uniform() - 1) * 2 ** -5 : rng.normal();
};

cases.push(
  {
    name: 'Relu and GlobalAveragePool, the derivative through both (away from the kink)',
    graph: {
      opset: 17, input: { name: 'x', dims: ['n', 2, 4, 4] }, output: 'y',
      initializers: { w: param([2, 4, 4]), v: param([2, 1, 1]) },
      nodes: [
        { op: 'Constant', inputs: [], outputs: ['k'], attrs: [tensorAttr('value', scalar(2 ** -7))] },
        { op: 'Constant', inputs: [], outputs: ['grid'], attrs: [tensorAttr('value', spreadGrid([1, 2, 4, 4], true))] },
        { op: 'Mul', inputs: ['x', 'k'], outputs: ['xs'] },
        { op: 'Add', inputs: ['grid', 'xs'], outputs: ['gx'] },
        { op: 'Add', inputs: ['gx', 'w'], outputs: ['a'] },
        { op: 'Relu', inputs: ['a'], outputs: ['r'] },
        { op: 'GlobalAveragePool', inputs: ['r'], outputs: ['gp'] },
        { op: 'Add', inputs: ['r', 'gp'], outputs: ['rg'] },
        { op: 'Mul', inputs: ['rg', 'v'], outputs: ['y'] },
      ],
    },
    init: smallThenNormal(2 * 4 * 4),
    h: 2 ** -10,
    parameters: ['w', 'v'],
  },
  {
    name: 'MaxPool with a parameter before it (overlapping windows, padding; the derivative through the pool, away from ties)',
    graph: {
      opset: 17, input: { name: 'x', dims: ['n', 2, 6, 6] }, output: 'y',
      initializers: { w: param([2, 6, 6]), v: param([2, 1, 1]) },
      nodes: [
        { op: 'Constant', inputs: [], outputs: ['k'], attrs: [tensorAttr('value', scalar(2 ** -7))] },
        { op: 'Constant', inputs: [], outputs: ['grid'], attrs: [tensorAttr('value', spreadGrid([1, 2, 6, 6], false))] },
        { op: 'Mul', inputs: ['x', 'k'], outputs: ['xs'] },
        { op: 'Add', inputs: ['grid', 'xs'], outputs: ['gx'] },
        { op: 'Add', inputs: ['gx', 'w'], outputs: ['a'] },
        { op: 'MaxPool', inputs: ['a'], outputs: ['mp'], attrs: [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1])] },
        { op: 'Mul', inputs: ['mp', 'v'], outputs: ['y'] },
      ],
    },
    init: smallThenNormal(2 * 6 * 6),
    h: 2 ** -10,
    parameters: ['w', 'v'],
  },
  {
    // test/io/onnx-folding.test.ts checks that these fold (per input shape, or at load)
    name: 'Shape (start), Gather, Range, Cast, Equal, Not and ConstantOfShape on the input\'s shape; Where between x·w and that constant',
    graph: shapeArithmeticGraph(true),
    parameters: ['w'],
  },
);

describe.each(cases.map((c) => [c.name, c] as const))('ONNX operators: %s', (_name, c) => {
  const path = writeGraph(join(dir, `case${cases.indexOf(c)}.onnx`), c.graph);
  const dims = c.graph.input.dims.map((d) => (typeof d === 'number' ? d : 2));
  const x = new Tensor(dims, new Rng(7).fillUniform(new Float32Array(dims.reduce((p, d) => p * d, 1)), -1, 1) as Float32Array);

  it('forward equals ONNX Runtime', async () => {
    const { model } = await loadModel(path);
    const ours = model.forward(model.blocks.map((b) => constant(model.param(b.name))), x, 'eval').logits.value;
    const session = await ort.InferenceSession.create(path);
    const out = (await session.run({ x: new ort.Tensor('float32', x.data, dims) }))[session.outputNames[0]!]!;
    expect(out.dims.map(Number)).toEqual([...ours.shape]);
    expect(relativeError(ours.data, out.data as Float32Array)).toBeLessThan(1e-5);
    await session.release();
  });

  if (c.parameters) {
    it('finds exactly the trainable initialisers as parameters', async () => {
      const { model } = await loadModel(path);
      expect(model.blocks.map((b) => b.name)).toEqual(c.parameters);
    });
  }

  it('gradient and H·v against central differences', async () => {
    const { model } = await loadModel(path);
    checkDerivatives(model.shapes, (params) => readout(model.forward(params, x, 'eval').logits), { ...(c.init ? { init: c.init } : {}), ...(c.h ? { h: c.h } : {}) });
  });
});

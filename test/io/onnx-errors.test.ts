import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { describe, expect, it } from 'vitest';
import { DTypeError, FileFormatError, OptionError, ShapeError } from '../../src/errors.js';
import { loadModel, loadOnnx } from '../../src/io/index.js';
import { ONNX_PROTO } from '../../src/io/onnxSchema.js';
import { lossAndGradient, resnet, UnsupportedGraphError, type Batch } from '../../src/nn/index.js';
import { Tensor } from '../../src/tensor/index.js';
import { fixtureBatch, onnxCase, onnxFixtureDir } from '../helpers/onnxFixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-onnx-'));
const mlpPath = join(onnxFixtureDir, 'mlp_regression.onnx');
const ModelProto = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');

/** A copy of the regression MLP's file with its decoded message changed by `edit`. */
function edited(name: string, edit: (m: { graph: { node: { op_type: string; domain?: string; name: string }[] } }) => void): string {
  const msg = ModelProto.toObject(ModelProto.decode(readFileSync(mlpPath))) as Parameters<typeof edit>[0];
  edit(msg);
  const path = join(dir, name);
  writeFileSync(path, ModelProto.encode(ModelProto.fromObject(msg)).finish());
  return path;
}

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    expect((e as Error).message).not.toContain('\n');
    return e as Error;
  }
  throw new Error('expected a failure');
}

function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    expect((e as Error).message).not.toContain('\n');
    return e as Error;
  }
  throw new Error('expected a failure');
}

describe('ONNX files that cannot be imported', () => {
  it('a truncated file: names the file and says it is truncated', async () => {
    const path = join(dir, 'truncated.onnx');
    const bytes = readFileSync(mlpPath);
    writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const e = await failure(loadModel(path));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/truncated/);
  });

  it('a file that is not ONNX (a safetensors file renamed)', async () => {
    const path = join(dir, 'weights.onnx');
    writeFileSync(path, readFileSync(join(onnxFixtureDir, 'mlp_regression.safetensors')));
    const e = await failure(loadModel(path));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/not (a readable )?ONNX|not an ONNX/);
  });

  it('a missing file', async () => {
    const e = await failure(loadOnnx(join(dir, 'absent.onnx')));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toMatch(/absent\.onnx: no such file/);
  });

  it('an unsupported operator: its name, the node and the supported list, at load time', async () => {
    const path = edited('mish.onnx', (m) => {
      const n = m.graph.node.find((x) => x.op_type === 'Tanh')!;
      n.op_type = 'Mish';
    });
    const e = await failure(loadModel(path));
    expect(e).toBeInstanceOf(UnsupportedGraphError);
    expect(e.message).toContain("'Mish'");
    expect(e.message).toContain("node '/Tanh'");
    expect(e.message).toMatch(/supported: .*Conv.*Gemm.*LayerNormalization/);
  });

  it('an operator from another domain', async () => {
    const path = edited('custom.onnx', (m) => {
      const n = m.graph.node.find((x) => x.op_type === 'Sigmoid')!;
      n.domain = 'com.microsoft';
    });
    const e = await failure(loadModel(path));
    expect(e).toBeInstanceOf(UnsupportedGraphError);
    expect(e.message).toContain("'com.microsoft'");
  });

  it('an architecture given with an ONNX file, and a frozen name that is not there', async () => {
    expect(await failure(loadModel(mlpPath, { arch: { arch: 'mlp', sizes: [5, 3], activation: 'relu' } }))).toBeInstanceOf(OptionError);
    const e = await failure(loadOnnx(mlpPath, { frozen: ['fc9.weight'] }));
    expect(e).toBeInstanceOf(FileFormatError);
    expect(e.message).toContain("'fc9.weight'");
  });

  it('frozen initialisers become buffers and leave the parameters', async () => {
    const { model } = await loadOnnx(mlpPath, { frozen: ['fc1.weight'] });
    expect(model.blocks.map((b) => b.name)).not.toContain('fc1.weight');
    expect(model.buffers.get('fc1.weight')!.shape).toEqual([12, 5]);
  });
});

describe('data that does not fit an imported model', () => {
  const regression = async () => (await loadModel(mlpPath)).model;

  it('an input shape that does not fit: the input name, its declared shape and the given one', async () => {
    const model = await regression();
    const batch: Batch = { x: new Tensor([8, 4]), y: new Float32Array(24), yShape: [8, 3] };
    const e = thrown(() => lossAndGradient(model, batch, { loss: 'mse' }));
    expect(e).toBeInstanceOf(ShapeError);
    expect(e.message).toContain('[8, 4]');
    expect(e.message).toContain("'input' of shape [batch, 5]");
  });

  it('integer data for a float model (imported or built in)', async () => {
    const model = await regression();
    const batch: Batch = { x: new Tensor([8, 5]), y: new Float32Array(24), yShape: [8, 3], xKind: 'int' };
    const e = thrown(() => lossAndGradient(model, batch, { loss: 'mse' }));
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toMatch(/integer ids .* takes float values/);
    const images: Batch = { x: new Tensor([2, 3, 8, 8]), y: Int32Array.of(0, 1), xKind: 'int' };
    expect(thrown(() => lossAndGradient(resnet({ depth: 8, width: 4 }), images))).toBeInstanceOf(DTypeError);
  });

  it('non-integer values for a model that takes token ids, and a token outside the vocabulary', async () => {
    const { file, onnxPath } = await onnxCase('decoder');
    const { model } = await loadModel(onnxPath);
    const good = fixtureBatch(file);
    const fractional = { ...good, x: new Tensor(good.x.shape, good.x.data.map((v, i) => (i === 3 ? v + 0.5 : v))) };
    delete fractional.xKind;
    const e = thrown(() => lossAndGradient(model, fractional, { ignoreIndex: -100 }));
    expect(e).toBeInstanceOf(DTypeError);
    expect(e.message).toContain('position 3');
    const outside = { ...good, x: new Tensor(good.x.shape, good.x.data.map((v, i) => (i === 0 ? 40 : v))) };
    const g = thrown(() => lossAndGradient(model, outside, { ignoreIndex: -100 }));
    expect(g).toBeInstanceOf(ShapeError);
    expect(g.message).toMatch(/node '.*Gather.*index 40 is outside the 17 entries/);
  });

  it('targets that do not fit the loss', async () => {
    const model = await regression();
    const x = new Tensor([8, 5]);
    expect(thrown(() => lossAndGradient(model, { x, y: new Float32Array(24), yShape: [8, 3] }))).toBeInstanceOf(DTypeError);
    const wrong = thrown(() => lossAndGradient(model, { x, y: new Float32Array(16), yShape: [8, 2] }, { loss: 'mse' }));
    expect(wrong).toBeInstanceOf(ShapeError);
    expect(wrong.message).toContain('[8, 2]');
    const { file, onnxPath } = await onnxCase('decoder');
    const lm = (await loadModel(onnxPath)).model;
    const b = fixtureBatch(file);
    const allIgnored = thrown(() => lossAndGradient(lm, { ...b, y: new Int32Array(b.y.length).fill(-100) }, { ignoreIndex: -100 }));
    expect(allIgnored.message).toMatch(/ignore index -100/);
    expect(thrown(() => lossAndGradient(lm, b)).message).toMatch(/label \d+ is -100/);
  });
});

describe('operator settings that cannot be mapped are refused when the file loads', () => {
  it('a pooling window that is not square: the file, the node and the setting', async () => {
    const { writeGraph, ints } = await import('../helpers/onnxGraphs.js');
    const path = writeGraph(join(dir, 'pool.onnx'), {
      opset: 17,
      input: { name: 'x', dims: ['n', 2, 6, 6] },
      output: 'y',
      nodes: [{ op: 'AveragePool', inputs: ['x'], outputs: ['y'], attrs: [ints('kernel_shape', [2, 3])] }],
    });
    const e = await failure(loadModel(path));
    expect(e).toBeInstanceOf(UnsupportedGraphError);
    expect(e.message).toContain(path);
    expect(e.message).toMatch(/node 'AveragePool_0'.*window 2x3/);
  });
});

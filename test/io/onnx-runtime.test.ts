import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { constant } from '../../src/autodiff/index.js';
import { loadModel } from '../../src/io/index.js';
import { relativeError } from '../helpers/fixtures.js';
import { fixtureBatch, onnxCase, onnxIndex } from '../helpers/onnxFixtures.js';

/** ONNX Runtime (its bundled CPU build) as an oracle that is not PyTorch: the same file, the same inputs. */
describe.each(Object.keys(onnxIndex.cases))('ONNX fixture %s against ONNX Runtime', (name) => {
  it('the forward outputs agree to float32 rounding (eval mode)', async () => {
    const { file, onnxPath } = await onnxCase(name);
    const { model } = await loadModel(onnxPath);
    const batch = fixtureBatch(file);
    const ours = model.forward(model.blocks.map((b) => constant(model.param(b.name))), batch.x, 'eval', batch.xKind).logits.value;

    const session = await ort.InferenceSession.create(onnxPath);
    const dims = batch.x.shape.map(Number);
    const input = batch.xKind === 'int' ? new ort.Tensor('int64', BigInt64Array.from(batch.x.data, (v) => BigInt(v)), dims) : new ort.Tensor('float32', batch.x.data, dims);
    const result = await session.run({ [session.inputNames[0]!]: input });
    const theirs = result[session.outputNames[0]!]!;
    expect(theirs.dims.map(Number)).toEqual([...ours.shape]);
    expect(relativeError(ours.data, theirs.data as Float32Array)).toBeLessThan(1e-5);
    await session.release();
  });
});

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import protobuf from 'protobufjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze } from '../../src/api/analyze.js';
import { openModelAndData } from '../../src/api/modelAndData.js';
import { writeSafetensors } from '../../src/io/index.js';
import { ONNX_PROTO } from '../../src/io/onnxSchema.js';
import { readResults } from '../../src/report/index.js';
import { Rng } from '../../src/tensor/index.js';
import { onnxCase, onnxFixtureDir } from '../helpers/onnxFixtures.js';
import { hesse } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-cli-onnx-'));
const fixture = (name: string) => join(onnxFixtureDir, `${name}.onnx`);
const tokens = join(dir, 'tokens.safetensors');
const longTokens = join(dir, 'long-tokens.safetensors');
const regression = join(dir, 'regression.safetensors');
const images = join(dir, 'images.safetensors');

/** One clear error line (after any narration), no stack trace, exit code 1 (a user's mistake). */
function expectOneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  const errors = r.stderr.trim().split('\n').filter((l) => /^(hesse|error):/.test(l));
  expect(errors, r.stderr).toHaveLength(1);
  expect(errors[0]).toMatch(pattern);
  expect(r.stderr.trim().split('\n').at(-1)).toBe(errors[0]);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  for (const [name, path] of [['decoder', tokens], ['mlp_regression', regression], ['vit', images], ['dwsep_cnn', join(dir, 'dwsep.safetensors')]] as const) {
    const { file } = await onnxCase(name);
    await writeSafetensors(path, { x: file.tensors.get('input.x')!, y: file.tensors.get('target.y')! });
  }
  // 300 sequences of the decoder's 8 tokens (vocabulary 17), the last tokens of some padded with -100: three batches of 128, two shards
  const rng = new Rng(11);
  const n = 300, t = 8;
  const x = BigInt64Array.from({ length: n * t }, () => BigInt(rng.int(17)));
  const y = BigInt64Array.from({ length: n * t }, (_, i) => (i % t >= t - (Math.floor(i / t) % 3) ? -100n : BigInt(rng.int(17))));
  await writeSafetensors(longTokens, { x: { dtype: 'I64', shape: [n, t], data: x }, y: { dtype: 'I64', shape: [n, t], data: y } });
});

describe('hesse analyze and landscape on ONNX models', () => {
  it('a decoder-only language model on token data, padding left out: the loss, accuracy and top eigenvalue, recorded and in --json', async () => {
    const { meta } = await onnxCase('decoder');
    const out = join(dir, 'decoder');
    const r = await hesse(['analyze', '--model', fixture('decoder'), '--data', tokens, '--batch', '3', '--ignore-index', '-100', '--eigen', '1', '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.parameters).toBe(meta.n_params);
    expect(summary.lossFunction).toBe('cross-entropy');
    expect(summary.ignoreIndex).toBe(-100);
    expect(Math.abs(summary.loss - meta.modes.eval!.loss) / meta.modes.eval!.loss).toBeLessThan(1e-5);
    expect(Math.abs(summary.eigenvalues[0] - meta.modes.eval!.top_eigenvalue!) / meta.modes.eval!.top_eigenvalue!).toBeLessThan(1e-5);
    const res = await readResults(out);
    expect(res.options.loss).toBe('cross-entropy');
    expect(res.options.ignoreIndex).toBe(-100);
    expect(res.inputs.model.parameters).toBe(meta.n_params);
    expect(res.inputs.data.description).toMatch(/3 samples: integer ids \[8\], integer labels \[8\]/);
    expect(res.results.evaluation!.loss).toBe(summary.loss);
    expect(res.results.evaluation!.accuracy).toBe(summary.accuracy);
    const page = readFileSync(join(out, 'index.html'), 'utf8');
    expect(page).toContain('loss at the analysed weights');
    expect(page).toContain('ignoring targets -100');
  });

  it('regression: --loss mse on float targets, the Hessian and the GGN, and a landscape without accuracy', async () => {
    const { meta } = await onnxCase('mlp_regression');
    const run = async (out: string, ...more: string[]) => {
      const r = await hesse(['analyze', '--model', fixture('mlp_regression'), '--data', regression, '--loss', 'mse', '--eigen', '1', '--out', join(dir, out), '--quiet', '--no-png', ...more]);
      expect(r.code, r.stderr).toBe(0);
      return readResults(join(dir, out));
    };
    const h = await run('reg-h');
    const g = await run('reg-g', '--curvature', 'ggn');
    expect(h.options.loss).toBe('mse');
    expect(h.results.evaluation!.accuracy).toBeUndefined();
    expect(Math.abs(h.results.evaluation!.loss - meta.modes.eval!.loss) / meta.modes.eval!.loss).toBeLessThan(1e-5);
    expect(Math.abs(h.results.eigen!.values[0]! - meta.modes.eval!.top_eigenvalue!) / meta.modes.eval!.top_eigenvalue!).toBeLessThan(1e-5);
    expect(g.options.curvature).toBe('ggn');
    expect(g.results.eigen!.values[0]).not.toBeCloseTo(h.results.eigen!.values[0]!, 3);
    const l = await hesse(['landscape', '--model', fixture('mlp_regression'), '--data', regression, '--loss', 'mse', '--steps', '3', '--out', join(dir, 'reg-l'), '--json', '--no-png']);
    expect(l.code, l.stderr).toBe(0);
    const land = JSON.parse(l.stdout);
    expect(land.lossFunction).toBe('mse');
    expect(land.landscape.accuracy).toBeUndefined();
    expect(land.landscape.loss[1]).toBeCloseTo(land.loss, 6);
  });

  it('--full-dataset on two worker threads rebuilds the graph there, keeps the ignore index, and gives the library numbers to the last bit', async () => {
    const out = join(dir, 'threads');
    const r = await hesse(['analyze', '--model', fixture('decoder'), '--data', longTokens, '--ignore-index', '-100', '--full-dataset', '--workers', '2', '--eigen', '1', '--trace', '--trace-products', '6', '--seed', '4', '--out', out, '--quiet', '--no-png']);
    expect(r.code, r.stderr).toBe(0);
    const cli = await readResults(out);
    expect(cli.options.workers).toBe(2);
    expect(cli.inputs.samples.hessian).toBe(300);
    const opened = await openModelAndData({ model: fixture('decoder'), data: longTokens });
    const here = await analyze({ ...opened, curvature: { ignoreIndex: -100 }, fullDataset: true, workers: 2, eigen: { k: 1 }, trace: { products: 6 }, seed: 4 });
    expect(cli.results.eigen!.values).toEqual(here.results.results.eigen!.values);
    expect(cli.results.trace!.estimate).toBe(here.results.results.trace!.estimate);
    expect(cli.results.evaluation!.loss).toBe(here.results.results.evaluation!.loss);
    expect(cli.results.evaluation!.samples).toBe(300);
  });

  it('--bn-mode train on a graph without batch norm says it changes nothing; on a graph with it, nothing is said', async () => {
    const none = await hesse(['analyze', '--model', fixture('mlp_regression'), '--data', regression, '--loss', 'mse', '--bn-mode', 'train', '--trace', '--trace-products', '2', '--out', join(dir, 'bn-none'), '--no-png']);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stderr).toMatch(/BN mode 'train' changes nothing: .*mlp_regression\.onnx.* no BatchNormalization node/);
    const withBn = await hesse(['analyze', '--model', fixture('dwsep_cnn'), '--data', join(dir, 'dwsep.safetensors'), '--bn-mode', 'train', '--trace', '--trace-products', '2', '--out', join(dir, 'bn-some'), '--no-png']);
    expect(withBn.code, withBn.stderr).toBe(0);
    expect(withBn.stderr).not.toMatch(/changes nothing/);
    expect((await readResults(join(dir, 'bn-some'))).options.bnMode).toBe('train');
  });
});

describe('bad input through the command: one line naming the problem, exit code 1', () => {
  const analyzeWith = (model: string, data: string, ...more: string[]) => hesse(['analyze', '--model', model, '--data', data, '--eigen', '1', '--out', join(dir, 'bad'), '--force', '--no-png', ...more]);
  const ModelProto = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType('onnx.ModelProto');

  it('a truncated ONNX file, and a file that is not ONNX', async () => {
    const truncated = join(dir, 'truncated.onnx');
    const bytes = readFileSync(fixture('mlp_regression'));
    writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    expectOneLineError(await analyzeWith(truncated, regression, '--loss', 'mse'), /truncated\.onnx.*truncated or not ONNX/);
    const renamed = join(dir, 'weights.onnx');
    writeFileSync(renamed, readFileSync(regression));
    expectOneLineError(await analyzeWith(renamed, regression, '--loss', 'mse'), /weights\.onnx.*not (a readable )?ONNX/);
  });

  it('an unsupported operator: its name and node', async () => {
    const msg = ModelProto.toObject(ModelProto.decode(readFileSync(fixture('mlp_regression')))) as { graph: { node: { op_type: string }[] } };
    msg.graph.node.find((n) => n.op_type === 'Tanh')!.op_type = 'Mish';
    const mish = join(dir, 'mish.onnx');
    writeFileSync(mish, ModelProto.encode(ModelProto.fromObject(msg)).finish());
    expectOneLineError(await analyzeWith(mish, regression, '--loss', 'mse'), /mish\.onnx: node '\/Tanh' uses the operator 'Mish'.*supported: .*Gemm/);
  });

  it('an input shape that does not fit the graph (32x32 images for an 8x8 ViT)', async () => {
    const big = join(dir, 'big-images.safetensors');
    await writeSafetensors(big, { x: { shape: [3, 3, 32, 32], data: new Float32Array(3 * 3 * 32 * 32) }, y: { dtype: 'I64', shape: [3], data: BigInt64Array.of(0n, 1n, 2n) } });
    expectOneLineError(await analyzeWith(fixture('vit'), big), /big-images: the input \[1, 3, 32, 32\] does not fit the graph input 'input' of shape \[batch, 3, 8, 8\]/);
  });

  it('integer ids for a model that takes float features', async () => {
    const ids = join(dir, 'ids.safetensors');
    await writeSafetensors(ids, { x: { dtype: 'I64', shape: [2, 5], data: BigInt64Array.from({ length: 10 }, (_, i) => BigInt(i)) }, y: { shape: [2, 3], data: new Float32Array(6) } });
    expectOneLineError(await analyzeWith(fixture('mlp_regression'), ids, '--loss', 'mse'), /ids: the data holds integer ids but the graph input 'input' .* takes float values/);
  });

  it('float targets with the cross-entropy', async () => {
    expectOneLineError(await analyzeWith(fixture('mlp_regression'), regression), /regression holds float targets.*cross-entropy.*mse/);
  });

  it('class labels out of range: padding without an ignore index, and a label beyond the outputs', async () => {
    expectOneLineError(await analyzeWith(fixture('decoder'), tokens), /tokens: label -100 \(sample 0, position 7\) is outside the 17 outputs.*ignore index/);
    const beyond = join(dir, 'beyond.safetensors');
    const { file } = await onnxCase('decoder');
    const y = BigInt64Array.from(file.tensors.get('target.y')!.data as BigInt64Array);
    y[10] = 40n;
    await writeSafetensors(beyond, { x: file.tensors.get('input.x')!, y: { dtype: 'I64', shape: [3, 8], data: y } });
    expectOneLineError(await analyzeWith(fixture('decoder'), beyond, '--ignore-index', '-100'), /beyond: label 40 \(sample 1, position 2\) is outside the 17 outputs .* and not the ignore index -100/);
  });

  it('a loss hesse does not have, an ignore index with the mean squared error, and token data for training', async () => {
    expectOneLineError(await analyzeWith(fixture('decoder'), tokens, '--loss', 'hinge'), /the loss must be 'cross-entropy' or 'mse', got 'hinge'/);
    expectOneLineError(await analyzeWith(fixture('mlp_regression'), regression, '--loss', 'mse', '--ignore-index', '-100'), /ignore index .* the mse loss has none/);
    const train = await hesse(['train', '--model', 'mlp:8-4-17', '--data', tokens, '--epochs', '1', '--out', join(dir, 'train-tokens')]);
    expectOneLineError(train, /training takes images .*tokens\.safetensors, 3 samples: integer ids/);
    expect(existsSync(join(dir, 'train-tokens', 'model.safetensors'))).toBe(false);
  });
});

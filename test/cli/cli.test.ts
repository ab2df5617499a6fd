import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { saveModel } from '../../src/io/checkpoint.js';
import { writeSafetensors } from '../../src/io/safetensors.js';
import { analyze } from '../../src/api/analyze.js';
import { CIFAR10_NORMALIZATION, hessianBatch, synthetic } from '../../src/data/index.js';
import { hessianOperator } from '../../src/curvature/index.js';
import { evaluateBatch, mlp, resnet } from '../../src/nn/index.js';
import { readResults } from '../../src/report/index.js';
import { kernelsInfo } from '../../src/kernels/index.js';
import { Rng, Tensor } from '../../src/tensor/index.js';
import { hesse } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-cli-'));
const model = join(dir, 'r8.safetensors');

/** One clear error line (after any narration of what was being done), no stack trace. */
function expectOneLineError(stderr: string, pattern: RegExp): void {
  const errors = stderr.trim().split('\n').filter((l) => /^(hesse|error):/.test(l));
  expect(errors, stderr).toHaveLength(1);
  expect(errors[0]).toMatch(pattern);
  expect(stderr.trim().split('\n').at(-1)).toBe(errors[0]);
  expect(stderr).not.toMatch(/\n\s+at /);
}

beforeAll(async () => {
  await saveModel(model, resnet({ depth: 8, width: 2, seed: 1 }));
});

describe('the hesse command', () => {
  it('with no arguments prints a short help that points to hesse demo; --version and --help work', async () => {
    const r = await hesse([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/hesse demo/);
    const v = await hesse(['--version']);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
    for (const sub of ['demo', 'analyze', 'landscape', 'train', 'report', 'data']) {
      const h = await hesse([sub, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/Usage: hesse/);
    }
  });

  it('analyze writes results.json, the plots and the report, and --json prints a parseable summary', async () => {
    const out = join(dir, 'analyze');
    const r = await hesse([
      'analyze', '--model', model, '--data', 'synthetic:48', '--batch', '16', '--eigen', '2', '--trace', '--trace-products', '12',
      '--density', '--density-steps', '12', '--per-layer', '--probes', '6', '--seed', '3', '--out', out, '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.eigenvalues).toHaveLength(2);
    expect(summary.eigenvalues[0]).toBeGreaterThanOrEqual(summary.eigenvalues[1]);
    const res = await readResults(out);
    expect(res.command).toBe('analyze');
    expect(res.options.seed).toBe(3);
    expect(res.options.bnMode).toBe('eval');
    expect(res.inputs.samples.hessian).toBe(16);
    expect(res.results.eigen!.values).toEqual(summary.eigenvalues);
    expect(res.results.trace!.products).toBe(12);
    expect(res.results.density!.nodes[0]).toHaveLength(12);
    expect(res.results.perLayer!.map((l) => l.name)[0]).toBe('conv1');
    expect(res.products.eigen).toBeGreaterThan(0);
    expect(res.timings.trace).toBeGreaterThan(0);
    expect(res.hesse.kernels).toMatch(/native|reference/);
    // the kernels' configuration and how it was chosen, as this machine's kernelsInfo() has it (no local path)
    const here = kernelsInfo();
    if (here.native) {
      expect(res.hesse.kernelChoice).toMatchObject({ isa: here.native.isa, gemm: here.native.gemm, convRows: here.native.convRows, cpu: cpus()[0]!.model });
      expect(['measured', 'stored']).toContain(res.hesse.kernelChoice!.source);
      expect(Object.keys(res.hesse.kernelChoice!.measuredMs!)).toEqual(Object.keys(here.native.choice.measuredMs!));
      expect(res.hesse.kernelChoice).not.toHaveProperty('file');
      expect(readFileSync(join(out, 'index.html'), 'utf8')).toContain(`kernel choice</th><td>${here.native.isa}, ${here.native.gemm} GEMM, `);
    } else {
      expect(res.hesse.kernelChoice).toBeUndefined();
    }
    // the model's size and its loss and accuracy on the Hessian batch at the analysed weights: a forward pass of the library's on the same 16 samples
    const reference = evaluateBatch(resnet({ depth: 8, width: 2, seed: 1 }), hessianBatch(synthetic({ n: 48, seed: 3 }), 16, CIFAR10_NORMALIZATION));
    expect(summary.parameters).toBe(res.inputs.model.parameters);
    expect(summary.parameters).toBe(resnet({ depth: 8, width: 2, seed: 1 }).size);
    expect(summary.lossFunction).toBe('cross-entropy');
    expect(summary.loss).toBeCloseTo(reference.loss, 6);
    expect(summary.accuracy).toBe(reference.accuracy);
    expect(res.results.evaluation).toEqual({ loss: summary.loss, accuracy: summary.accuracy, samples: 16, ms: expect.any(Number) });
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toMatch(/loss at the analysed weights<\/th><td>[\d.]+ \(cross-entropy; the Hessian batch, 16 samples\)/);
    for (const f of ['index.html', 'results.json', 'plots/esd.svg', 'plots/esd.png', 'plots/eigenvalues.svg', 'plots/per-layer-trace.svg']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
  });

  it('the same seed gives the same numbers', async () => {
    const args = (out: string) => ['analyze', '--model', model, '--data', 'synthetic:32', '--batch', '8', '--trace', '--trace-products', '6', '--out', out, '--json', '--seed', '5'];
    const a = JSON.parse((await hesse(args(join(dir, 's1')))).stdout);
    const b = JSON.parse((await hesse(args(join(dir, 's2')))).stdout);
    expect(a.trace).toEqual(b.trace);
  });

  it('the whole-dataset Hessian on worker threads gives the numbers of this thread', async () => {
    const args = (workers: string, out: string) => ['analyze', '--model', model, '--data', 'synthetic:96', '--full-dataset', '--workers', workers, '--trace', '--trace-products', '8', '--eigen', '1', '--seed', '2', '--out', join(dir, out), '--json'];
    const one = await hesse(args('1', 'w1'));
    const two = await hesse(args('2', 'w2'));
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    const a = JSON.parse(one.stdout), b = JSON.parse(two.stdout);
    expect(Math.abs(a.trace.estimate - b.trace.estimate) / Math.abs(a.trace.estimate)).toBeLessThan(1e-5);
    expect(Math.abs(a.eigenvalues[0] - b.eigenvalues[0]) / Math.abs(a.eigenvalues[0])).toBeLessThan(1e-4);
    const res = await readResults(join(dir, 'w2'));
    expect(res.options.fullDataset).toBe(true);
    expect(res.inputs.samples.hessian).toBe(96);
    const refused = await hesse(['analyze', '--model', model, '--data', 'synthetic:32', '--workers', '2']);
    expectOneLineError(refused.stderr, /whole dataset/);
  });

  it('takes the Hessian batch from the training split unless told otherwise, and records the split', async () => {
    const args = (out: string, ...more: string[]) => ['analyze', '--model', model, '--data', 'synthetic:32', '--batch', '8', '--trace', '--trace-products', '6', '--seed', '5', '--out', join(dir, out), '--quiet', '--no-png', ...more];
    expect((await hesse(args('split-default'))).code).toBe(0);
    expect((await hesse(args('split-test', '--split', 'test'))).code).toBe(0);
    const byDefault = await readResults(join(dir, 'split-default'));
    const test = await readResults(join(dir, 'split-test'));
    expect(byDefault.options.split).toBe('train');
    expect(byDefault.inputs.data.description).toMatch(/train split/);
    expect(test.options.split).toBe('test');
    // the library given each split's set explicitly gives each run's numbers
    const library = async (split: 'train' | 'test') =>
      (await analyze({ model: resnet({ depth: 8, width: 2, seed: 1 }), dataset: synthetic({ n: 32, seed: 5, split }), normalize: CIFAR10_NORMALIZATION, batch: 8, trace: { products: 6 }, seed: 5 })).results.results.trace!.estimate;
    expect(byDefault.results.trace!.estimate).toBe(await library('train'));
    expect(test.results.trace!.estimate).toBe(await library('test'));
    expect(byDefault.results.trace!.estimate).not.toBe(test.results.trace!.estimate);
    const l = await hesse(['landscape', '--model', model, '--data', 'synthetic:16', '--batch', '8', '--directions', 'random', '--steps', '3', '--out', join(dir, 'split-landscape'), '--quiet', '--no-png']);
    expect(l.code, l.stderr).toBe(0);
    const land = await readResults(join(dir, 'split-landscape'));
    expect(land.options.split).toBe('train');
    // its numbers are those of the training split's first batch (the default seed's synthetic set), not the test split's
    const origin = (split: 'train' | 'test') => evaluateBatch(resnet({ depth: 8, width: 2, seed: 1 }), hessianBatch(synthetic({ n: 16, seed: 0, split }), 8, CIFAR10_NORMALIZATION)).loss;
    expect(Math.abs(land.results.landscape!.originLoss! - origin('train'))).toBeLessThan(1e-6 * origin('train'));
    expect(Math.abs(land.results.landscape!.originLoss! - origin('test'))).toBeGreaterThan(1e-4 * origin('test'));
    // --split test reaches landscape too: recorded, and its numbers are the test split's first batch
    const t = await hesse(['landscape', '--model', model, '--data', 'synthetic:16', '--batch', '8', '--directions', 'random', '--steps', '3', '--split', 'test', '--out', join(dir, 'split-landscape-test'), '--quiet', '--no-png']);
    expect(t.code, t.stderr).toBe(0);
    const landTest = await readResults(join(dir, 'split-landscape-test'));
    expect(landTest.options.split).toBe('test');
    expect(landTest.inputs.data.description).toMatch(/test split/);
    expect(Math.abs(landTest.results.landscape!.originLoss! - origin('test'))).toBeLessThan(1e-6 * origin('test'));
    expect(Math.abs(landTest.results.landscape!.originLoss! - origin('train'))).toBeGreaterThan(1e-4 * origin('train'));
  });

  it('reaches XTrace as --trace-method xtrace, and checks --trace-rse before any work', async () => {
    const out = join(dir, 'xtrace');
    const r = await hesse(['analyze', '--model', model, '--data', 'synthetic:16', '--batch', '8', '--trace', '--trace-method', 'xtrace', '--trace-products', '10', '--out', out, '--quiet', '--no-png']);
    expect(r.code, r.stderr).toBe(0);
    const res = await readResults(out);
    expect(res.options.traceMethod).toBe('xtrace');
    expect(res.results.trace!.method).toBe('XTrace');
    // the leave-one-out bar is optimistic and says so; the jackknife brackets it from above
    expect(res.results.trace!.errorEstimate).toMatch(/optimistic/);
    expect(res.results.trace!.jackknifeStandardError).toBeGreaterThan(res.results.trace!.standardError);
    const bad = await hesse(['analyze', '--model', model, '--data', 'synthetic:16', '--trace', '--trace-rse', '2', '--out', join(dir, 'rse')]);
    expect(bad.code).toBe(1);
    expectOneLineError(bad.stderr, /relative standard error of the trace .*got 2/);
  });

  it('--trace-rse 0.01 stops once the reported relative standard error is 0.01 or less, or at the product cap, and results.json says which', async () => {
    // a 10-8-3 tanh MLP (115 parameters) on 64 feature vectors: the exact GGN trace is 115 products away
    const features = join(dir, 'features.safetensors');
    const mlpFile = join(dir, 'mlp.safetensors');
    const rng = new Rng(5);
    const x = Float32Array.from({ length: 64 * 10 }, () => rng.normal());
    const y = Int32Array.from({ length: 64 }, (_, i) => i % 3);
    await writeSafetensors(features, { x: { shape: [64, 10], data: x }, y: { dtype: 'I32', shape: [64], data: y } });
    const net = mlp({ sizes: [10, 8, 3], activation: 'tanh', seed: 2 });
    await saveModel(mlpFile, net);
    const args = (out: string, cap: string, ...more: string[]) => ['analyze', '--model', mlpFile, '--data', features, '--batch', '64', '--trace', '--trace-rse', '0.01', '--trace-products', cap, '--out', join(dir, out), '--quiet', '--no-png', ...more];
    const reached = await hesse(args('rse-reached', '4000', '--curvature', 'ggn'));
    expect(reached.code, reached.stderr).toBe(0);
    const t = (await readResults(join(dir, 'rse-reached'))).results.trace!;
    expect(t.stoppedBy).toBe('target-rse');
    expect(t.relativeStandardError).toBeLessThanOrEqual(0.01);
    expect(t.relativeStandardError).toBeCloseTo(t.standardError / Math.abs(t.estimate), 12);
    expect(t.probes).toBeGreaterThanOrEqual(30);
    expect(t.products).toBeLessThan(4000);
    expect(t.errorEstimate).toMatch(/guarded for the target-RSE stop/);
    // the estimate against the exact trace, Σ e_iᵀ G e_i
    const G = hessianOperator(net, { x: new Tensor([64, 10], x), y }, { kind: 'ggn' });
    const units = Array.from({ length: G.size }, (_, u) => Float32Array.from({ length: G.size }, (_, i) => (i === u ? 1 : 0)));
    const exact = (await G.matmat!(units)).reduce((s, p, u) => s + p[u]!, 0);
    expect(Math.abs(t.estimate - exact)).toBeLessThan(3 * t.standardError);
    // a cap below the target's needs: stopped by the cap, which is recorded, with the error bar it reached
    const capped = await hesse(args('rse-capped', '40'));
    expect(capped.code, capped.stderr).toBe(0);
    const c = (await readResults(join(dir, 'rse-capped'))).results.trace!;
    expect(c.stoppedBy).toBe('probes');
    expect(c.probes).toBe(40);
    expect(c.relativeStandardError).toBeGreaterThan(0.01);
    expect((await readResults(join(dir, 'rse-capped'))).options.traceTargetRse).toBe(0.01);
  });

  it("lets the density's Lanczos run serve the eigenvalue and the trace, says so, and --no-share gives each stage its own products", async () => {
    const args = (out: string, ...more: string[]) => ['analyze', '--model', model, '--data', 'synthetic:16', '--batch', '8', '--eigen', '1', '--trace', '--trace-products', '8', '--density', '--density-steps', '12', '--seed', '2', '--out', join(dir, out), '--no-png', ...more];
    const shared = await hesse(args('shared'));
    expect(shared.code, shared.stderr).toBe(0);
    expect(shared.stdout).toMatch(/reused: the density's Lanczos run \(12 steps\)/);
    const alone = await hesse(args('alone', '--no-share'));
    expect(alone.code, alone.stderr).toBe(0);
    expect(alone.stdout).not.toMatch(/reused/);
    const s = await readResults(join(dir, 'shared'));
    const a = await readResults(join(dir, 'alone'));
    expect(s.options.share).toBe(true);
    expect(a.options.share).toBe(false);
    expect(s.results.eigen!.reuses).toMatch(/Ritz/);
    expect(s.results.trace!.reuses).toMatch(/QᵀHQ/);
    expect(a.results.eigen!.reuses).toBeUndefined();
    // the command line gives the library's numbers, shared or not
    const library = (share: boolean) =>
      analyze({ model: resnet({ depth: 8, width: 2, seed: 1 }), dataset: synthetic({ n: 16, seed: 2 }), normalize: CIFAR10_NORMALIZATION, batch: 8, eigen: { k: 1 }, trace: { products: 8 }, density: { steps: 12 }, seed: 2, share });
    expect(s.results.trace!.estimate).toBe((await library(true)).results.results.trace!.estimate);
    expect(a.results.trace!.estimate).toBe((await library(false)).results.results.trace!.estimate);
    expect(s.results.eigen!.values[0]).toBe((await library(true)).results.results.eigen!.values[0]);
  });

  it('the coordinator takes the Redis URL from HESSE_REDIS_URL for --cluster alone, and never prints its password', async () => {
    const args = ['analyze', '--model', model, '--data', 'synthetic:16', '--full-dataset', '--cluster', '--eigen', '1', '--out', join(dir, 'cluster')];
    const none = await hesse(args, { env: { HESSE_REDIS_URL: '' } });
    expectOneLineError(none.stderr, /HESSE_REDIS_URL/);
    // nothing listens on port 1: the error names the server from the environment, without the password
    const unreachable = await hesse(args, { env: { HESSE_REDIS_URL: 'redis://:SECRET@127.0.0.1:1' } });
    expect(unreachable.code).toBe(1);
    expectOneLineError(unreachable.stderr, /127\.0\.0\.1:1/);
    expect(unreachable.stderr).not.toMatch(/SECRET/);
  });

  it('landscape computes a 2-D surface along random filter-normalised directions', async () => {
    const out = join(dir, 'landscape');
    const r = await hesse(['landscape', '--model', model, '--data', 'synthetic:32', '--batch', '8', '--directions', 'random', '--dims', '2', '--steps', '3', '--range', '0.5', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    const res = await readResults(out);
    const loss = res.results.landscape!.loss as number[][];
    expect(loss).toHaveLength(3);
    expect(loss[1]![1]).toBeCloseTo(res.results.landscape!.originLoss!, 5);
    expect(existsSync(join(out, 'plots/landscape-2d.svg'))).toBe(true);
  });

  it('train writes a model, a checkpoint and a report, and resumes from the checkpoint', async () => {
    const out = join(dir, 'train');
    const r = await hesse(['train', '--model', 'resnet8-w2', '--data', 'synthetic:64', '--epochs', '1', '--batch-size', '32', '--out', out, '--quiet']);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['model.safetensors', 'checkpoint.safetensors', 'results.json', 'plots/training.svg']) expect(existsSync(join(out, f)), f).toBe(true);
    const resumed = await hesse(['train', '--model', 'resnet8-w2', '--data', 'synthetic:64', '--epochs', '2', '--batch-size', '32', '--out', out, '--resume', join(out, 'checkpoint.safetensors'), '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout).history).toHaveLength(2);
    const again = await hesse(['analyze', '--model', join(out, 'model.safetensors'), '--data', 'synthetic:32', '--batch', '8', '--eigen', '1', '--out', join(dir, 'trained-analyze'), '--quiet']);
    expect(again.code, again.stderr).toBe(0);
  });

  it('report rebuilds the HTML report from results.json', async () => {
    const out = join(dir, 'analyze');
    const before = readFileSync(join(out, 'index.html'), 'utf8');
    const r = await hesse(['report', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'index.html'), 'utf8')).toBe(before);
  });

  it('user mistakes give one clear line and a non-zero exit, and --debug shows the stack', async () => {
    const missing = await hesse(['analyze', '--model', join(dir, 'nope.safetensors'), '--data', 'synthetic'], { cwd: dir });
    expect(missing.code).not.toBe(0);
    expectOneLineError(missing.stderr, /nope\.safetensors/);

    const garbage = join(dir, 'garbage.safetensors');
    writeFileSync(garbage, 'this is not a safetensors file at all');
    const corrupt = await hesse(['analyze', '--model', garbage, '--data', 'synthetic'], { cwd: dir });
    expect(corrupt.code).not.toBe(0);
    expectOneLineError(corrupt.stderr, /garbage\.safetensors/);

    const badMode = await hesse(['analyze', '--model', model, '--data', 'synthetic', '--bn-mode', 'sometimes'], { cwd: dir });
    expect(badMode.code).not.toBe(0);
    expectOneLineError(badMode.stderr, /BN mode must be 'eval' or 'train', got 'sometimes'/);

    const badNumber = await hesse(['analyze', '--model', model, '--data', 'synthetic', '--eigen', 'many'], { cwd: dir });
    expect(badNumber.code).not.toBe(0);
    expectOneLineError(badNumber.stderr, /eigen.*integer.*'many'|'many'.*eigen/);

    const badArch = await hesse(['train', '--model', 'resnet21', '--data', 'synthetic:8', '--epochs', '1'], { cwd: dir });
    expect(badArch.code).not.toBe(0);
    expectOneLineError(badArch.stderr, /6n\+2/);

    const gray = join(dir, 'gray.safetensors');
    await writeSafetensors(gray, { x: { dtype: 'F32', shape: [4, 1, 8, 8], data: new Float32Array(256) }, y: { dtype: 'I64', shape: [4], data: BigInt64Array.of(0n, 1n, 2n, 3n) } });
    const mismatch = await hesse(['analyze', '--model', model, '--data', gray, '--eigen', '1'], { cwd: dir });
    expect(mismatch.code).not.toBe(0);
    expectOneLineError(mismatch.stderr, /channels/);

    const unknownData = await hesse(['analyze', '--model', model, '--data', 'imagenet'], { cwd: dir });
    expectOneLineError(unknownData.stderr, /unknown data 'imagenet'/);

    const debug = await hesse(['analyze', '--model', join(dir, 'nope.safetensors'), '--data', 'synthetic', '--debug'], { cwd: dir });
    expect(debug.code).not.toBe(0);
    expect(debug.stderr).toMatch(/\n\s+at /);
    // none of them left its default output folder behind, empty, in the folder it ran in
    expect(existsSync(join(dir, 'hesse-report'))).toBe(false);
    expect(existsSync(join(dir, 'hesse-train'))).toBe(false);
    // nor a deep --out it had to create; a folder that was there before stays
    const deep = join(dir, 'made', 'for', 'nothing');
    mkdirSync(join(dir, 'was-here'));
    for (const out of [deep, join(dir, 'was-here')]) {
      const r = await hesse(['analyze', '--model', join(dir, 'nope.safetensors'), '--data', 'synthetic', '--out', out], { cwd: dir });
      expect(r.code).not.toBe(0);
    }
    expect(existsSync(join(dir, 'made'))).toBe(false);
    expect(existsSync(join(dir, 'was-here'))).toBe(true);
  });

  it('the demo runs every step offline (quick sizes) and writes the whole report', async () => {
    const out = join(dir, 'demo');
    const r = await hesse(['demo', '--quick', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/report: .*index\.html/);
    const res = await readResults(out);
    for (const section of ['eigen', 'trace', 'density', 'perLayer', 'landscape', 'training'] as const) expect(res.results[section], section).toBeDefined();
    expect(r.stderr).toMatch(/training/);
  });

  it('Ctrl-C stops cleanly, keeps what was finished and exits with 130', async () => {
    const out = join(dir, 'interrupted');
    const r = await hesse(
      ['analyze', '--model', model, '--data', 'synthetic:32', '--batch', '16', '--trace', '--trace-products', '100000', '--out', out],
      { signalWhen: /trace \.\.\./ },
    );
    expect(r.code, r.stderr).toBe(130);
    const res = await readResults(out);
    expect(res.interrupted).toBe(true);
    expect(res.results.trace!.products).toBeGreaterThan(0);
    expect(res.results.trace!.products).toBeLessThan(100000);
  });
});

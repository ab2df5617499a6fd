import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyze } from '../../src/api/analyze.js';
import type { CurvatureDataOptions } from '../../src/api/curvatureData.js';
import { curvatureOperator, inProcessExecutor, planShards, type ExecutorFactory } from '../../src/curvature/index.js';
import { CIFAR10_NORMALIZATION, synthetic } from '../../src/data/index.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { resnet } from '../../src/nn/index.js';
import { threadExecutor } from '../../src/parallel/index.js';
import { readResults } from '../../src/report/index.js';
import { Rng } from '../../src/tensor/index.js';
import { hesse } from '../cli/run.js';

const dir = mkdtempSync(join(tmpdir(), 'hesse-road-'));
const modelFile = join(dir, 'r8.safetensors');
const model = () => resnet({ depth: 8, width: 2, seed: 1 });
// three batches of the default 128, so that two workers get two shards
const samples = 300;
const seed = 2;

/**
 * Each place products can run, as the command line and the library name it. The cluster joins
 * with one entry once the cluster branch (ioredis) is merged:
 *   { name: 'a Redis cluster of two workers', flags: ['--cluster', URL], library: { cluster: { redisUrl: URL } }, place: (p) => clusterExecutor(p, { redisUrl: URL }) }
 * with two `hesse worker --redis URL` processes started around the test.
 */
const PLACES: { name: string; flags: string[]; library: Partial<CurvatureDataOptions>; place: ExecutorFactory }[] = [
  { name: 'this thread', flags: ['--workers', '1'], library: { workers: 1 }, place: inProcessExecutor },
  { name: 'two worker threads', flags: ['--workers', '2'], library: { workers: 2 }, place: (p) => threadExecutor(p, { workers: 2 }) },
];

beforeAll(async () => {
  await saveModel(modelFile, model());
});

describe("the library's whole-dataset analysis and the command's --full-dataset are one road", () => {
  it.each(PLACES)('$name: the same numbers to the last bit for the same seed and shards', async ({ name, flags, library }) => {
    const out = join(dir, name.replace(/\W+/g, '-'));
    const r = await hesse(['analyze', '--model', modelFile, '--data', `synthetic:${samples}`, '--full-dataset', ...flags, '--eigen', '1', '--trace', '--trace-products', '8', '--seed', String(seed), '--out', out, '--quiet', '--no-png']);
    expect(r.code, r.stderr).toBe(0);
    const cli = await readResults(out);
    const lib = await analyze({
      model: model(),
      dataset: synthetic({ n: samples, seed, classes: 10, split: 'train' }),
      normalize: CIFAR10_NORMALIZATION,
      fullDataset: true,
      ...library,
      eigen: { k: 1 },
      trace: { products: 8 },
      seed,
    });
    expect(cli.options.workers).toBe(lib.results.options.workers);
    expect(cli.results.eigen!.values).toEqual(lib.results.results.eigen!.values);
    expect(cli.results.trace!.estimate).toBe(lib.results.results.trace!.estimate);
    expect(cli.results.trace!.standardError).toBe(lib.results.results.trace!.standardError);
    expect(cli.products).toEqual(lib.results.products);
  });

  it('every place gives the products of this thread to the last bit for the same shards', async () => {
    const dataset = synthetic({ n: samples, seed, classes: 10, split: 'train' });
    const plan = planShards(samples, { batchSize: 128, shards: 2 });
    const rng = new Rng(3);
    const vs = [0, 1].map(() => rng.fillNormal(new Float32Array(model().size)) as Float32Array);
    const products: Float32Array[][] = [];
    for (const { place } of PLACES) {
      const op = await curvatureOperator(model(), { dataset, normalize: CIFAR10_NORMALIZATION, plan }, { place, kind: 'ggn', bnMode: 'train' });
      try {
        products.push(await op.matmat!(vs));
      } finally {
        await op.close();
      }
    }
    for (const p of products.slice(1)) p.forEach((v, j) => expect(Array.from(v)).toEqual(Array.from(products[0]![j]!)));
  });
});

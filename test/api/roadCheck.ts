import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { analyze } from '../../src/api/analyze.js';
import type { CurvatureDataOptions } from '../../src/api/curvatureData.js';
import { curvatureOperator, planShards, type ExecutorFactory } from '../../src/curvature/index.js';
import { CIFAR10_NORMALIZATION, synthetic } from '../../src/data/index.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { resnet } from '../../src/nn/index.js';
import { readResults } from '../../src/report/index.js';
import { Rng } from '../../src/tensor/index.js';
import { hesse } from '../cli/run.js';

/** A place products can run, as the command line and the library name it. */
export interface Place {
  name: string;
  flags: string[];
  library: Partial<CurvatureDataOptions>;
  place: ExecutorFactory;
}

const dir = mkdtempSync(join(tmpdir(), 'hesse-road-'));
const modelFile = join(dir, 'r8.safetensors');
const model = () => resnet({ depth: 8, width: 2, seed: 1 });
// three batches of the default 128, so that two workers get two shards
const samples = 300;
const seed = 2;

export async function saveRoadModel(): Promise<void> {
  await saveModel(modelFile, model());
}

/** `hesse analyze --full-dataset` at a place and the library's analyze there: the same numbers to the last bit. */
export async function expectOneRoad({ name, flags, library }: Place): Promise<void> {
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
}

/** The products of every place equal the first place's to the last bit, for the same shards. */
export async function expectSameProducts(places: readonly Place[]): Promise<void> {
  const dataset = synthetic({ n: samples, seed, classes: 10, split: 'train' });
  const plan = planShards(samples, { batchSize: 128, shards: 2 });
  const rng = new Rng(3);
  const vs = [0, 1].map(() => rng.fillNormal(new Float32Array(model().size)) as Float32Array);
  const products: Float32Array[][] = [];
  for (const { place } of places) {
    const op = await curvatureOperator(model(), { dataset, normalize: CIFAR10_NORMALIZATION, plan }, { place, kind: 'ggn', bnMode: 'train' });
    try {
      products.push(await op.matmat!(vs));
    } finally {
      await op.close();
    }
  }
  for (const p of products.slice(1)) p.forEach((v, j) => expect(Array.from(v)).toEqual(Array.from(products[0]![j]!)));
}

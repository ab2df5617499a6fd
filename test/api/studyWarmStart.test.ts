import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/api/analyze.js';
import { analyzeCheckpoint, type CheckpointContext } from '../../src/api/studyCheckpoint.js';
import { openStudyData } from '../../src/api/studyData.js';
import { resolveStudySettings } from '../../src/api/studySettings.js';
import { runArchitecture } from '../../src/api/studyVariants.js';
import { buildModel } from '../../src/nn/index.js';
import { train } from '../../src/train/index.js';

describe('the study warm-starts Lanczos from the previous checkpoint', () => {
  it("smoke-sized ResNet-8s at two checkpoints: the warm start takes fewer products than a cold one at the same tolerance, and both find the same top eigenvalue within what their residuals allow", async () => {
    for (const variant of ['bn-res', 'nobn-res', 'bn-nores', 'nobn-nores']) {
      const s = resolveStudySettings({ preset: 'smoke', depths: [8], variants: [variant] });
      const data = await openStudyData(s);
      const model = buildModel(runArchitecture({ depth: 8, variant }, s.width, data.train.classes), 0);
      const epoch = async (seed: number) =>
        (await train(model, { trainSet: data.train, testSet: data.test, epochs: 1, batchSize: s.batchSize, lr: s.lr, momentum: s.momentum, weightDecay: s.weightDecay, augment: false, normalize: data.normalize, seed })).history[0]!;
      const context: CheckpointContext = { model, data, settings: s, seed: 0 };

      const first = (await analyzeCheckpoint(context, await epoch(0), undefined))!;
      expect(first.record.warmStart).toBe(false);
      expect(first.record.cold).toBeUndefined();
      const second = (await analyzeCheckpoint(context, await epoch(1), first.eigenvector))!.record;
      expect(second.warmStart).toBe(true);

      // the cold start, run here on its own: Lanczos from a random vector on the same 32 images, same tolerance
      const cold = (await analyze({ model, dataset: data.train, normalize: data.normalize, batch: s.hessianBatch!, seed: 0, eigen: { k: 1, tol: s.eigenTol } })).results.results.eigen!;
      expect(second.cold, variant).toEqual({ topEigenvalues: cold.values, products: cold.products });
      expect(second.eigenConverged, variant).toBe(true);
      expect(cold.converged, variant).toBe(true);
      expect(second.eigenProducts, variant).toBeLessThan(cold.products);

      // each Ritz value lies within its (confirmed) residual norm of an eigenvalue, the top one here, and each
      // residual is below tol x |theta|: so the two differ by at most the sum, about 2 tol x |theta|
      const warmValue = second.topEigenvalues[0]!;
      const coldValue = cold.values[0]!;
      const rw = second.eigenResiduals[0]!;
      const rc = cold.residuals![0]!;
      expect(rw, variant).toBeLessThanOrEqual(s.eigenTol * Math.abs(warmValue));
      expect(rc, variant).toBeLessThanOrEqual(s.eigenTol * Math.abs(coldValue));
      expect(Math.abs(warmValue - coldValue), variant).toBeLessThanOrEqual(rw + rc);
    }
  });
});

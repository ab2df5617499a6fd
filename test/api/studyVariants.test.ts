import { describe, expect, it } from 'vitest';
import { parseIntegerList, resolveDepths, resolveSeeds, resolveVariants, runArchitecture, studyRuns, VARIANT_NAMES } from '../../src/api/studyVariants.js';
import { studySettings } from '../../src/api/study.js';
import { analysisEpochs, resolveStudySettings, settingsDifference } from '../../src/api/studySettings.js';
import { OptionError } from '../../src/errors.js';
import { buildModel } from '../../src/nn/index.js';

const names = (depth: number, variant: string) => buildModel(runArchitecture({ depth, variant }, 4, 10)).stateOrder.map((e) => e.name);
const bnKeys = (n: string[]) => n.filter((k) => /(^|\.)bn\d\.|downsample\.1\./.test(k));

describe('the study variants build the networks of the paper', () => {
  it('BN x residual grid at depth 14: BN keys and shortcut convolutions where the variant has them', () => {
    const full = names(14, 'bn-res');
    expect(full).toContain('bn1.weight');
    expect(full).toContain('layer1.1.bn2.running_var');
    expect(full).toContain('layer3.0.downsample.0.weight');
    expect(full).toContain('layer3.0.downsample.1.weight');

    const noBn = names(14, 'nobn-res');
    expect(bnKeys(noBn)).toEqual([]);
    // residuals stay: the 1x1 shortcut convolutions where the shape changes, without their BN
    expect(noBn.filter((k) => k.includes('downsample'))).toEqual(['layer2.0.downsample.0.weight', 'layer3.0.downsample.0.weight']);

    const noRes = names(14, 'bn-nores');
    expect(noRes.filter((k) => k.includes('downsample'))).toEqual([]);
    expect(noRes).toContain('layer2.0.bn1.weight');

    const neither = names(14, 'nobn-nores');
    expect(bnKeys(neither)).toEqual([]);
    expect(neither.filter((k) => k.includes('downsample'))).toEqual([]);
    // every variant has the same convolutions and head
    const convs = (n: string[]) => n.filter((k) => /conv\d\.weight$|^fc\./.test(k));
    for (const v of ['nobn-res', 'bn-nores', 'nobn-nores']) expect(convs(names(14, v))).toEqual(convs(full));
  });

  it('stage-wise variants drop BN from exactly one part and keep it in the others', () => {
    const stem = names(8, 'nobn-stem');
    expect(stem.filter((k) => k.startsWith('bn1.'))).toEqual([]);
    expect(stem).toContain('layer1.0.bn1.weight');
    expect(stem).toContain('layer3.0.downsample.1.weight');
    for (const stage of [1, 2, 3]) {
      const n = names(8, `nobn-stage${stage}`);
      for (const other of [1, 2, 3]) {
        const inStage = bnKeys(n).filter((k) => k.startsWith(`layer${other}.`));
        if (other === stage) expect(inStage, `stage ${stage}`).toEqual([]);
        else expect(inStage.length, `stage ${other} of nobn-stage${stage}`).toBeGreaterThan(0);
      }
      expect(n).toContain('bn1.weight');
      // the shortcut's convolution stays, only its BN goes
      if (stage > 1) {
        expect(n).toContain(`layer${stage}.0.downsample.0.weight`);
        expect(n).not.toContain(`layer${stage}.0.downsample.1.weight`);
      }
    }
    // the ResNet-8 of the PyHessian definition: 3 stages of one block, 16-channel stem at width 16
    expect(buildModel(runArchitecture({ depth: 8, variant: 'nobn-stage3' }, 16, 100)).param('fc.weight').shape).toEqual([100, 64]);
  });

  it('the grid: depths x variants x seeds, one id each', () => {
    const runs = studyRuns([8, 20], resolveVariants(['grid']), [0, 1]);
    expect(runs).toHaveLength(16);
    expect(new Set(runs.map((r) => r.id)).size).toBe(16);
    expect(runs[0]).toEqual({ id: 'resnet8-bn-res-seed0', depth: 8, variant: 'bn-res', seed: 0 });
    expect(resolveVariants(['nobn-stage3', 'bn-res', 'stages'])).toEqual(['bn-res', 'nobn-stem', 'nobn-stage1', 'nobn-stage2', 'nobn-stage3']);
    expect(resolveVariants(['all'])).toEqual(VARIANT_NAMES);
    expect(resolveDepths([32, 20, 32])).toEqual([20, 32]);
  });

  it('refuses a bad variant, depth or seed list, naming the bad item', () => {
    expect(() => resolveVariants(['bn-ress'])).toThrow(/unknown study variant 'bn-ress'.*bn-res, nobn-res/);
    expect(() => resolveDepths([21])).toThrow(/depth 21 is not a CIFAR ResNet depth.*6n\+2/);
    expect(() => resolveDepths([2])).toThrow(OptionError);
    expect(() => resolveSeeds([0, 0])).toThrow(/repeat a seed/);
    expect(() => resolveSeeds([-1])).toThrow(/seed -1/);
    expect(() => parseIntegerList('0,x,2', '--seeds')).toThrow(/'0,x,2': 'x' is not an integer/);
    expect(() => parseIntegerList('0,,2', '--seeds')).toThrow(/empty item/);
    expect(() => parseIntegerList('1.5', '--depths')).toThrow(/'1.5' is not an integer/);
  });

  it('settings: preset, then what is given; checkpoints every quarter of the given epochs and at the end', () => {
    const s = resolveStudySettings({ preset: 'smoke', epochs: 10 });
    expect(s.depths).toEqual([8, 14]);
    expect(s.analyzeEvery).toBe(3);
    expect(analysisEpochs(s)).toEqual([3, 6, 9, 10]);
    expect(analysisEpochs(resolveStudySettings({ preset: 'paper' }))).toEqual([45, 90, 135, 180]);
    expect(settingsDifference(s, resolveStudySettings({ preset: 'smoke', epochs: 10, seeds: [1] }))).toEqual({ key: 'seeds', was: [0], now: [1] });
    expect(() => resolveStudySettings({ preset: 'tiny' })).toThrow(/unknown preset 'tiny'; choose smoke, laptop, paper/);
    expect(() => resolveStudySettings({ epochs: 4, analyzeEvery: 5 })).toThrow(/every 5 epochs is more than the 4 epochs/);
    expect(() => resolveStudySettings({ data: 'imagenet' })).toThrow(/unknown data 'imagenet'/);
  });

  it("without a preset: the paper's depths, PyHessian's Hessian batch of 200 training images, CIFAR-10, seed 0, a quarter of the epochs", () => {
    const s = studySettings({});
    expect(s.depths).toEqual([20, 32, 38, 56]);
    expect(s.hessianBatch).toBe(200);
    expect(s.data).toBe('cifar10');
    expect(s.trainSamples).toBeNull();
    expect(s.seeds).toEqual([0]);
    expect(s.variants).toEqual(VARIANT_NAMES);
    expect(s.preset).toBeNull();
    expect(s.epochs).toBe(180);
    expect(analysisEpochs(s)).toEqual([45, 90, 135, 180]);
    // epochs given: still a quarter of them (rounded), and always the end
    expect(analysisEpochs(studySettings({ epochs: 20 }))).toEqual([5, 10, 15, 20]);
    expect(analysisEpochs(studySettings({ epochs: 10 }))).toEqual([3, 6, 9, 10]);
    expect(analysisEpochs(studySettings({ epochs: 2 }))).toEqual([1, 2]);
    // the paper preset changes only the seeds of these
    const paper = studySettings({ preset: 'paper' });
    expect({ ...paper, preset: null, seeds: [0] }).toEqual(s);
    expect(paper.seeds).toEqual([0, 1, 2]);
  });
});

/**
 * The variants of the batch-norm / residual study (PyHessian paper, section on BN and residual
 * connections): the 2 x 2 grid of BN on/off and residual on/off, and the stage-wise variants that
 * keep residuals and BN everywhere except one part (the stem or one of the three stages). A run is
 * one variant at one depth with one seed.
 */
import { OptionError } from '../errors.js';
import { validateDescription, type BatchNormSetting, type ResNetDescription } from '../nn/index.js';

export interface VariantSpec {
  name: string;
  /** how the table and the plots name it */
  label: string;
  batchNorm: BatchNormSetting;
  residual: boolean;
  /** the grid (BN x residual) or the stage-wise rows */
  group: 'grid' | 'stages';
}

const exceptPart = (part: 'stem' | 0 | 1 | 2): BatchNormSetting => ({
  stem: part !== 'stem',
  stages: [0, 1, 2].map((s) => s !== part) as [boolean, boolean, boolean],
});

export const STUDY_VARIANTS: readonly VariantSpec[] = Object.freeze([
  { name: 'bn-res', label: 'BN, residual', batchNorm: true, residual: true, group: 'grid' },
  { name: 'nobn-res', label: 'no BN, residual', batchNorm: false, residual: true, group: 'grid' },
  { name: 'bn-nores', label: 'BN, no residual', batchNorm: true, residual: false, group: 'grid' },
  { name: 'nobn-nores', label: 'no BN, no residual', batchNorm: false, residual: false, group: 'grid' },
  { name: 'nobn-stem', label: 'no BN in the stem', batchNorm: exceptPart('stem'), residual: true, group: 'stages' },
  { name: 'nobn-stage1', label: 'no BN in stage 1', batchNorm: exceptPart(0), residual: true, group: 'stages' },
  { name: 'nobn-stage2', label: 'no BN in stage 2', batchNorm: exceptPart(1), residual: true, group: 'stages' },
  { name: 'nobn-stage3', label: 'no BN in stage 3', batchNorm: exceptPart(2), residual: true, group: 'stages' },
]);

export const VARIANT_NAMES = STUDY_VARIANTS.map((v) => v.name);
/** Names that stand for several variants in a --variants list. */
export const VARIANT_GROUPS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  all: VARIANT_NAMES,
  grid: STUDY_VARIANTS.filter((v) => v.group === 'grid').map((v) => v.name),
  stages: STUDY_VARIANTS.filter((v) => v.group === 'stages').map((v) => v.name),
});

export const DEFAULT_DEPTHS = Object.freeze([20, 32, 38, 56]);

export function variantSpec(name: string): VariantSpec {
  const v = STUDY_VARIANTS.find((s) => s.name === name);
  if (!v) throw new OptionError(`unknown study variant '${name}'; the variants are ${VARIANT_NAMES.join(', ')} (or the groups ${Object.keys(VARIANT_GROUPS).join(', ')})`);
  return v;
}

/** Variant names (groups expanded), in the catalogue's order, each once. */
export function resolveVariants(names: readonly string[]): string[] {
  if (names.length === 0) throw new OptionError(`the list of study variants is empty; name some of ${VARIANT_NAMES.join(', ')} (or all, grid, stages)`);
  const wanted = new Set<string>();
  for (const n of names) {
    const group = VARIANT_GROUPS[n];
    if (group) group.forEach((g) => wanted.add(g));
    else wanted.add(variantSpec(n).name);
  }
  return VARIANT_NAMES.filter((n) => wanted.has(n));
}

/** A CIFAR ResNet depth: 6n+2 with n >= 1; the list in ascending order, each once. */
export function resolveDepths(depths: readonly number[]): number[] {
  if (depths.length === 0) throw new OptionError('the list of depths is empty; give depths such as 20,32,38,56 (6n+2)');
  for (const d of depths) {
    if (!Number.isInteger(d) || d < 8 || (d - 2) % 6 !== 0) {
      throw new OptionError(`depth ${d} is not a CIFAR ResNet depth; depths are 6n+2 with n >= 1 (8, 14, 20, 26, 32, 38, 44, 56, ...)`);
    }
  }
  return [...new Set(depths)].sort((a, b) => a - b);
}

export function resolveSeeds(seeds: readonly number[]): number[] {
  if (seeds.length === 0) throw new OptionError('the list of seeds is empty; give seeds such as 0,1,2');
  for (const s of seeds) if (!Number.isSafeInteger(s) || s < 0) throw new OptionError(`seed ${s} is not a whole number >= 0; give seeds such as 0,1,2`);
  if (new Set(seeds).size !== seeds.length) throw new OptionError(`the seeds ${seeds.join(',')} repeat a seed; each seed once`);
  return [...seeds];
}

/**
 * Parses a comma-separated list of integers as typed on a command line ("20,32" or "0, 1, 2"),
 * naming `what` and the bad item when one is not an integer.
 */
export function parseIntegerList(text: string, what: string): number[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.some((s) => s === '')) throw new OptionError(`${what} '${text}' has an empty item; write integers separated by commas, e.g. 0,1,2`);
  return items.map((s) => {
    const n = Number(s);
    if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(n)) throw new OptionError(`${what} '${text}': '${s}' is not an integer; write integers separated by commas, e.g. 0,1,2`);
    return n;
  });
}

/** One training run of the study: a variant at a depth with a seed. */
export interface StudyRun {
  /** names the run's folder and its row: 'resnet20-nobn-res-seed0' */
  id: string;
  depth: number;
  variant: string;
  seed: number;
}

export function runId(depth: number, variant: string, seed: number): string {
  return `resnet${depth}-${variant}-seed${seed}`;
}

/** Every run of the grid: depth-major, then variant, then seed. */
export function studyRuns(depths: readonly number[], variants: readonly string[], seeds: readonly number[]): StudyRun[] {
  return depths.flatMap((depth) => variants.flatMap((variant) => seeds.map((seed) => ({ id: runId(depth, variant, seed), depth, variant, seed }))));
}

/** The network of a run, checked (the parameter count fits). */
export function runArchitecture(run: Pick<StudyRun, 'depth' | 'variant'>, width: number, classes: number): ResNetDescription {
  const v = variantSpec(run.variant);
  return validateDescription({ arch: 'resnet', depth: run.depth, width, classes, batchNorm: v.batchNorm, residual: v.residual }) as ResNetDescription;
}

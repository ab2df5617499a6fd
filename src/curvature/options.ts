import { OptionError } from '../errors.js';
import type { BnMode, LossKind, Model, ObjectiveOptions } from '../nn/index.js';

export type CurvatureKind = 'hessian' | 'ggn';

export const CURVATURE_KINDS: readonly CurvatureKind[] = ['hessian', 'ggn'];
export const BN_MODES: readonly BnMode[] = ['eval', 'train'];
export const LOSS_KINDS: readonly LossKind[] = ['cross-entropy', 'mse'];

/**
 * Which curvature: the kind, and the objective it is the curvature of (BN mode, loss and whatever
 * else the objective takes; those fields travel to the products untouched).
 */
export interface CurvatureOptions extends ObjectiveOptions {
  kind?: CurvatureKind;
  /**
   * Most tangents carried through one pass. Default: min(8, max(1, ⌊512 / batch size⌋)). Measured
   * on ResNet-20 (2 cores), per tangent against single products: a block of 8 costs 0.67x at batch
   * 8 and 0.78x at batch 32; at batch 128 a block of 4 costs 0.88x but a block of 8 1.42x, its
   * tangents outgrowing the caches.
   */
  maxBlock?: number;
}

/** The objective with its defaults filled in: what a batch's primal pass depends on. */
export type ResolvedObjective = ObjectiveOptions & { bnMode: BnMode; loss: LossKind };

export interface ResolvedCurvature {
  kind: CurvatureKind;
  maxBlock: number;
  objective: ResolvedObjective;
}

/** What an operator was computed on; every result records it. */
export interface CurvatureInfo {
  kind: CurvatureKind;
  bnMode: BnMode;
  loss: LossKind;
  samples: number;
  batches: number;
  parameters: number;
  blocks: string[];
}

export function defaultMaxBlock(batchSize: number): number {
  return Math.min(8, Math.max(1, Math.floor(512 / Math.max(1, batchSize))));
}

function oneOf<T extends string>(what: string, value: T, choices: readonly T[]): T {
  if (!choices.includes(value)) throw new OptionError(`${what} must be ${choices.map((c) => `'${c}'`).join(' or ')}, got '${String(value)}'`);
  return value;
}

/**
 * Checks the objective's own choices (BN mode, loss, ignore index) and fills in their defaults;
 * other fields pass through. An ignore index (PyTorch's ignore_index: targets equal to it are
 * left out of the mean) is an integer, and only the cross-entropy has one.
 */
export function resolveObjective(opts: ObjectiveOptions): ResolvedObjective {
  const resolved: ResolvedObjective = { ...opts, bnMode: oneOf('the BN mode', opts.bnMode ?? 'eval', BN_MODES), loss: oneOf('the loss', opts.loss ?? 'cross-entropy', LOSS_KINDS) };
  if (opts.ignoreIndex === undefined) {
    delete resolved.ignoreIndex;
    return resolved;
  }
  if (!Number.isSafeInteger(opts.ignoreIndex)) throw new OptionError(`the ignore index must be an integer (a label value such as -100), got ${String(opts.ignoreIndex)}`);
  if (resolved.loss !== 'cross-entropy') throw new OptionError(`an ignore index leaves targets out of the cross-entropy; the ${resolved.loss} loss has none (leave out the ignore index, or use the cross-entropy)`);
  return resolved;
}

/** Checks curvature options and fills in their defaults (the block size from the batch size). */
export function resolveCurvatureOptions(opts: CurvatureOptions, batchSize: number): ResolvedCurvature {
  const { kind = 'hessian', maxBlock = defaultMaxBlock(batchSize), ...objective } = opts;
  oneOf('the curvature', kind, CURVATURE_KINDS);
  if (!Number.isInteger(maxBlock) || maxBlock < 1) throw new OptionError(`the block size (tangents per pass) must be a positive integer, got ${maxBlock}`);
  return { kind, maxBlock, objective: resolveObjective(objective) };
}

export function curvatureInfo(model: Model, c: ResolvedCurvature, samples: number, batches: number): CurvatureInfo {
  return {
    kind: c.kind,
    bnMode: c.objective.bnMode,
    loss: c.objective.loss,
    samples,
    batches,
    parameters: model.size,
    blocks: model.blocks.map((b) => b.name),
  };
}

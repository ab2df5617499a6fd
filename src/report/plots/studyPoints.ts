import type { StudyCheckpoint, StudyRunResult } from '../studyResults.js';

/** The curvature at the end of training of a finished run. */
export function finalOf(r: StudyRunResult): StudyCheckpoint | undefined {
  if (r.status !== 'done') return undefined;
  return r.checkpoints.reduce<StudyCheckpoint | undefined>((last, c) => (!last || c.epoch > last.epoch ? c : last), undefined);
}

/** The order the variants are drawn in, and their colours: the same in every study plot. */
export const VARIANT_ORDER = ['bn-res', 'nobn-res', 'bn-nores', 'nobn-nores', 'nobn-stem', 'nobn-stage1', 'nobn-stage2', 'nobn-stage3'] as const;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#ff7f0e', '#17becf'];

/** A colour scale over the variants' labels as `runs` name them (those in `shown` when given), in catalogue order. */
export function variantColours(runs: readonly StudyRunResult[], shown?: ReadonlySet<string>): { domain: string[]; range: string[] } {
  const label = new Map(runs.map((r) => [r.variant, r.label]));
  const present = VARIANT_ORDER.map((v, i) => ({ v, i })).filter(({ v }) => label.has(v) && (!shown || shown.has(label.get(v)!)));
  return { domain: present.map(({ v }) => label.get(v)!), range: present.map(({ i }) => PALETTE[i]!) };
}

/** A facet header over the depth: ordered by depth, written 'ResNet-20'. */
export function depthHeader(channel: 'row' | 'column') {
  return { field: 'depth', type: 'ordinal', title: null, sort: 'ascending', header: { labelExpr: "'ResNet-' + datum.value", labelAngle: channel === 'row' ? -90 : 0 } } as const;
}

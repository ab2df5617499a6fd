import { OptionError } from '../errors.js';
import type { ParamBlock } from '../nn/index.js';

/**
 * Which parameters a curvature restriction keeps:
 * - 'all';
 * - 'bn' (every batch-norm weight and bias), 'conv', 'linear', 'weights' (no biases or BN);
 * - a layer or stage prefix such as 'layer2', 'layer2.0', 'fc', 'conv1' (whole name components);
 * - a name pattern with * wildcards ('layer*.conv1.weight') or a RegExp.
 */
export type BlockSelector = 'all' | 'bn' | 'conv' | 'linear' | 'weights' | string | RegExp;

function wildcard(pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
}

export function selectBlocks(blocks: readonly ParamBlock[], selector: BlockSelector): ParamBlock[] {
  let chosen: ParamBlock[];
  if (selector instanceof RegExp) chosen = blocks.filter((b) => selector.test(b.name));
  else if (selector === 'all') chosen = [...blocks];
  else if (selector === 'bn') chosen = blocks.filter((b) => b.kind.startsWith('bn.'));
  else if (selector === 'conv') chosen = blocks.filter((b) => b.kind.startsWith('conv.'));
  else if (selector === 'linear') chosen = blocks.filter((b) => b.kind.startsWith('linear.'));
  else if (selector === 'weights') chosen = blocks.filter((b) => b.kind === 'conv.weight' || b.kind === 'linear.weight');
  else if (selector.includes('*')) chosen = blocks.filter((b) => wildcard(selector).test(b.name));
  else chosen = blocks.filter((b) => b.name === selector || b.name.startsWith(selector + '.'));
  if (chosen.length === 0) {
    const some = blocks.slice(0, 4).map((b) => b.name).join(', ');
    throw new OptionError(`no parameters match '${String(selector)}' (names look like ${some}, ...; or use all, bn, conv, linear, weights)`);
  }
  return chosen;
}

/** The per-layer grouping used for per-layer traces and eigenvalues: one group per module (weight and bias together). */
export function layerGroups(blocks: readonly ParamBlock[]): { name: string; blocks: ParamBlock[] }[] {
  const groups = new Map<string, ParamBlock[]>();
  for (const b of blocks) {
    const dot = b.name.lastIndexOf('.');
    const layer = dot < 0 ? b.name : b.name.slice(0, dot);
    const list = groups.get(layer) ?? [];
    list.push(b);
    groups.set(layer, list);
  }
  return [...groups].map(([name, bs]) => ({ name, blocks: bs }));
}

import { OptionError } from '../errors.js';
import type { ParamBlock } from '../nn/index.js';

/**
 * Which parameters a curvature restriction keeps:
 * - 'all';
 * - by what they are: 'bn' (every batch-norm weight and bias), 'ln' (every layer-norm scale and
 *   shift), 'embedding' (embedding tables), 'conv', 'linear', 'weights' (conv and linear weights:
 *   no biases, norms or embeddings);
 * - a layer or stage prefix such as 'layer2', 'layer2.0', 'fc', 'conv1', 'blocks.0.attn' (whole
 *   name components);
 * - a name pattern with * wildcards ('layer*.conv1.weight') or a RegExp. A module named like a
 *   kind above (a final layer norm called 'ln') is reached with a pattern: 'ln.*'.
 */
export type BlockSelector = 'all' | 'bn' | 'ln' | 'embedding' | 'conv' | 'linear' | 'weights' | string | RegExp;

const KINDS: Record<string, (kind: ParamBlock['kind']) => boolean> = {
  bn: (k) => k.startsWith('bn.'),
  ln: (k) => k.startsWith('ln.'),
  embedding: (k) => k === 'embedding.weight',
  conv: (k) => k.startsWith('conv.'),
  linear: (k) => k.startsWith('linear.'),
  weights: (k) => k === 'conv.weight' || k === 'linear.weight',
};

function wildcard(pattern: string): RegExp {
  return new RegExp('^' + pattern.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
}

export function selectBlocks(blocks: readonly ParamBlock[], selector: BlockSelector): ParamBlock[] {
  let chosen: ParamBlock[];
  if (selector instanceof RegExp) chosen = blocks.filter((b) => selector.test(b.name));
  else if (selector === 'all') chosen = [...blocks];
  else if (Object.hasOwn(KINDS, selector)) chosen = blocks.filter((b) => KINDS[selector]!(b.kind));
  else if (selector.includes('*')) chosen = blocks.filter((b) => wildcard(selector).test(b.name));
  else chosen = blocks.filter((b) => b.name === selector || b.name.startsWith(selector + '.'));
  if (chosen.length === 0) {
    const some = blocks.slice(0, 4).map((b) => b.name).join(', ');
    throw new OptionError(`no parameters match '${String(selector)}' (names look like ${some}, ...; or use all, ${Object.keys(KINDS).join(', ')})`);
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

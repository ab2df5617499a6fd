import type { Tensor } from '../tensor/index.js';
import type { Node } from './node.js';
import { releaseTangent, retainTangent } from './tangentPool.js';

/**
 * Forward-mode replay of a recorded computation: every node's tangent from its inputs' tangents
 * by the node's jvp rule, reading the cached primal values. Nothing primal is recomputed.
 *
 * `seeds` fixes the tangent of some nodes (the parameters, or an injected cotangent); every node
 * that is neither seeded nor in `nodes` counts as a constant (zero tangent). A tangent is released
 * after its last use unless it belongs to `keep`, so memory follows the live set, not the whole tape.
 */
export function replayTangents(
  nodes: readonly Node[],
  seeds: ReadonlyMap<Node, Tensor>,
  k: number,
  keep: readonly Node[],
): Map<Node, Tensor> {
  const tangents = new Map<Node, Tensor>(seeds);
  for (const t of seeds.values()) retainTangent(t.data);
  const lastUse = new Map<Node, number>();
  nodes.forEach((node, i) => node.inputs.forEach((input) => lastUse.set(input, i)));
  for (const node of keep) lastUse.set(node, Infinity);
  const none: (Tensor | null)[] = [];
  nodes.forEach((node, i) => {
    if (seeds.has(node) || !node.op) return;
    let any = false;
    none.length = 0;
    for (const input of node.inputs) {
      const t = tangents.get(input);
      none.push(t ?? null);
      if (t) any = true;
    }
    if (any) {
      const t = node.op.jvp(node, none, k);
      if (t) {
        retainTangent(t.data);
        tangents.set(node, t);
      }
    }
    for (const input of node.inputs) {
      if (lastUse.get(input) !== i) continue;
      const t = tangents.get(input);
      if (t) {
        releaseTangent(t.data);
        tangents.delete(input);
      }
    }
  });
  return tangents;
}

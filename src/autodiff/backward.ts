import { Tensor } from '../tensor/index.js';
import { accumulate } from './accumulate.js';
import { constant, type Node, type Tape, recordOn } from './node.js';

export interface BackwardResult {
  /** the cotangent (gradient) node of each requested leaf; null where the output does not depend on it */
  grads: (Node | null)[];
  /** the cotangent node of `watch`, when asked for (the gradient of the loss with respect to the logits) */
  watched: Node | null;
  /** number of tape entries that belong to the loss part of the backward pass (before `watch` was reached) */
  lossPartEnd: number;
}

/**
 * Reverse-mode sweep over the forward part of `tape` from the scalar `output`. Every vjp rule is
 * built from primitives, so when `record` is true the backward pass lands on the same tape and
 * can itself be differentiated forward-mode (the Hessian-vector product replays it).
 */
export function backward(tape: Tape, output: Node, wrt: readonly Node[], options: { record: boolean; watch?: Node }): BackwardResult {
  const forwardCount = tape.nodes.length;
  const cotangents = new Map<Node, Node>();
  cotangents.set(output, constant(new Tensor(output.shape, new Float32Array(output.value.size).fill(1))));
  let watched: Node | null = null;
  let lossPartEnd = forwardCount;
  tape.role = 'backward';
  recordOn(options.record ? tape : null, () => {
    for (let i = forwardCount - 1; i >= 0; i--) {
      const node = tape.nodes[i]!;
      const g = cotangents.get(node);
      if (node === options.watch) {
        watched = g ?? null;
        lossPartEnd = tape.nodes.length;
      }
      if (!g || !node.op) continue;
      cotangents.delete(node);
      const needed = node.inputs.map((x) => x.requiresGrad);
      const gs = node.op.vjp(node, g, needed);
      node.inputs.forEach((input, j) => {
        const gi = gs[j];
        if (!gi || !needed[j]) return;
        const previous = cotangents.get(input);
        cotangents.set(input, previous ? accumulate(previous, gi) : gi);
      });
    }
  });
  tape.role = 'forward';
  return { grads: wrt.map((w) => cotangents.get(w) ?? null), watched, lossPartEnd };
}

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
  // the cotangent parts that reached each node, summed (in arrival order) when the node's turn comes
  const parts = new Map<Node, Node[]>();
  parts.set(output, [constant(new Tensor(output.shape, new Float32Array(output.value.size).fill(1)))]);
  const sum = (ps: readonly Node[]) => ps.reduce((a, b) => accumulate(a, b));
  let watched: Node | null = null;
  let lossPartEnd = forwardCount;
  tape.role = 'backward';
  const grads = recordOn(options.record ? tape : null, () => {
    for (let i = forwardCount - 1; i >= 0; i--) {
      const node = tape.nodes[i]!;
      let ps = parts.get(node);
      if (node === options.watch) {
        if (ps) ps = [sum(ps)];
        watched = ps ? ps[0]! : null;
        lossPartEnd = tape.nodes.length;
      }
      if (!ps || !node.op) continue;
      parts.delete(node);
      const needed = node.inputs.map((x) => x.requiresGrad);
      // a rule that sums two parts itself gets them apart (all but the last summed first)
      const gs =
        ps.length >= 2 && node.op.vjpOfSum ? node.op.vjpOfSum(node, [sum(ps.slice(0, -1)), ps[ps.length - 1]!], needed) : node.op.vjp(node, sum(ps), needed);
      node.inputs.forEach((input, j) => {
        const gi = gs[j];
        if (!gi || !needed[j]) return;
        const previous = parts.get(input);
        if (previous) previous.push(gi);
        else parts.set(input, [gi]);
      });
    }
    return wrt.map((w) => {
      const ps = parts.get(w);
      return ps ? sum(ps) : null;
    });
  });
  tape.role = 'forward';
  return { grads, watched, lossPartEnd };
}

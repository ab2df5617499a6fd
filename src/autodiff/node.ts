import type { Shape, Tensor } from '../tensor/index.js';

/**
 * A primitive operation. Forward values are computed by the op's constructor function (in ops/);
 * the two rules here are what differentiation needs:
 * - `jvp` maps input tangents to the output tangent. Tangents carry a leading block dimension k
 *   (shape [k, ...shape]) so k directions ride one pass; `null` stands for a zero tangent. jvp
 *   rules are linear in the tangents and read the cached primal values of the node and its inputs.
 * - `vjp` maps the output cotangent to input cotangents and is written with primitives, so the
 *   backward pass is itself recorded and can be differentiated forward-mode (forward-over-reverse).
 */
export interface Primitive {
  readonly name: string;
  jvp(node: Node, tangents: readonly (Tensor | null)[], k: number): Tensor | null;
  vjp(node: Node, cotangent: Node, needed: readonly boolean[]): readonly (Node | null)[];
  /**
   * Optional: the vjp of a cotangent that reaches the node as two parts (the backward pass would
   * add them up first), for a rule that sums them in its own pass. The same numbers as
   * vjp(node, accumulate(a, b), needed).
   */
  vjpOfSum?(node: Node, parts: readonly [Node, Node], needed: readonly boolean[]): readonly (Node | null)[];
  /**
   * The nodes whose primal values `jvp` reads (among the node itself and its inputs). A recorded
   * context keeps only values some rule reads; without this, the node and all its inputs count.
   */
  jvpReads?(node: Node): readonly Node[];
}

let nextId = 0;

export type NodeRole = 'leaf' | 'forward' | 'backward';

/** One value in a computation: its primal, how it was made, and whether it depends on the parameters. */
export class Node {
  readonly id = nextId++;
  role: NodeRole = 'forward';

  constructor(
    /** the primal value; a recorded context replaces values no rule reads with NaNs of the same shape */
    public value: Tensor,
    readonly op: Primitive | null,
    readonly inputs: readonly Node[],
    /** op-specific data the rules need (geometry, indices, axes), never a tangent */
    readonly saved: unknown,
    /** true when the value depends on a parameter leaf, so it needs a gradient and has a tangent */
    readonly requiresGrad: boolean,
  ) {}

  get shape(): Shape {
    return this.value.shape;
  }
}

/**
 * The recording of a computation: every node that depends on the parameters, in creation order,
 * which is a topological order. Constant nodes (data, labels) are not recorded: they have no
 * tangent and need no gradient.
 */
export class Tape {
  readonly nodes: Node[] = [];
  role: NodeRole = 'forward';
}

let currentTape: Tape | null = null;

export function activeTape(): Tape | null {
  return currentTape;
}

/** Runs `fn` with `tape` recording; restores the previous tape afterwards. */
export function recordOn<T>(tape: Tape | null, fn: () => T): T {
  const previous = currentTape;
  currentTape = tape;
  try {
    return fn();
  } finally {
    currentTape = previous;
  }
}

/** Creates the node for one primitive application and records it when it needs a gradient. */
export function makeNode(op: Primitive, inputs: readonly Node[], value: Tensor, saved?: unknown): Node {
  const requiresGrad = inputs.some((i) => i.requiresGrad);
  const node = new Node(value, op, inputs, saved, requiresGrad);
  if (requiresGrad && currentTape) {
    node.role = currentTape.role;
    currentTape.nodes.push(node);
  }
  return node;
}

/** A value that is not differentiated (inputs, labels, buffers). */
export function constant(value: Tensor): Node {
  const node = new Node(value, null, [], undefined, false);
  node.role = 'leaf';
  return node;
}

/** A parameter: gradients and tangents are taken with respect to these. */
export function parameter(value: Tensor): Node {
  const node = new Node(value, null, [], undefined, true);
  node.role = 'leaf';
  return node;
}

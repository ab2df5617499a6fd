import { HesseError } from '../../errors.js';
import type { GraphNode } from './description.js';
import { UnsupportedGraphError } from './errors.js';
import { operators, supportedOperators, type GraphContext } from './operators.js';
import { Const, isConst, type Value } from './values.js';

/** Runs one node on its input values; errors name the node. */
export function runNode(node: GraphNode, values: ReadonlyMap<string, Value>, ctx: GraphContext): (Value | undefined)[] {
  const impl = operators[node.op];
  if (!impl) throw unsupportedOperator(node);
  const inputs = node.inputs.map((name) => {
    if (name === '') return undefined;
    const v = values.get(name);
    if (v === undefined) throw new UnsupportedGraphError(`node '${node.name}' (${node.op}) reads '${name}', which no node, initialiser or input defines`);
    return v;
  });
  try {
    return impl(inputs, node, ctx);
  } catch (e) {
    if (e instanceof HesseError && !e.message.startsWith(`node '`)) {
      const Ctor = e.constructor as new (message: string) => HesseError;
      throw new Ctor(`node '${node.name}' (${node.op}): ${e.message}`);
    }
    throw e;
  }
}

export function unsupportedOperator(node: GraphNode): UnsupportedGraphError {
  return new UnsupportedGraphError(
    `node '${node.name}' uses the operator '${node.op}', which hesse cannot differentiate (supported: ${supportedOperators.join(', ')})`,
  );
}

/**
 * Constant folding: every node whose inputs are all constants is evaluated now and disappears
 * from the graph (shape arithmetic, Constant nodes, masks built from constants). Nodes that read
 * the input (even only its shape) or a parameter stay, in order; those that follow from the
 * input's shape alone are folded per input shape by `GraphLayer`.
 */
export function foldConstants(nodes: readonly GraphNode[], known: Map<string, Const>, opset: number): GraphNode[] {
  const ctx: GraphContext = { opset, mode: 'eval', bnStats: new Map(), bnLayer: (n) => n.name };
  const kept: GraphNode[] = [];
  for (const node of nodes) {
    const foldable = node.inputs.every((name) => name === '' || known.has(name));
    if (!foldable) {
      kept.push(node);
      continue;
    }
    const outs = runNode(node, known, ctx);
    node.outputs.forEach((name, i) => {
      const v = outs[i];
      if (name !== '' && v !== undefined && isConst(v)) known.set(name, v);
    });
  }
  return kept;
}

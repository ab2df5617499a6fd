import type { Node } from '../../autodiff/index.js';
import { DTypeError, ShapeError } from '../../errors.js';
import { formatShape, Tensor } from '../../tensor/index.js';
import { Model } from '../model.js';
import { ModelBuilder, type ForwardContext, type Layer } from '../module.js';
import type { GraphNode, OnnxDescription } from './description.js';
import { runNode } from './execute.js';
import { shapeInputs, type GraphContext } from './operators.js';
import { Const, isConst, toNode, type Value } from './values.js';

/** What the data fed to a model holds: float features or pixels, or integer ids (tokens) stored exactly in float32. */
export type InputKind = 'float' | 'int';

function bnLayerName(node: GraphNode): string {
  const mean = node.inputs[3] ?? '';
  return mean.endsWith('.running_mean') ? mean.slice(0, -'.running_mean'.length) : node.name;
}

/**
 * What one pass runs for one input shape: the nodes left once the shape arithmetic is folded, and
 * the folded values those nodes (or the output) read.
 */
export interface RunPlan {
  readonly nodes: readonly GraphNode[];
  readonly folded: ReadonlyMap<string, Const>;
  /** the buffers the folded values were computed from, as they were then (a causal mask) */
  readonly buffers: ReadonlyMap<string, Float32Array>;
}

/** How many input shapes keep a plan (a run sees one or two batch sizes: the batch and the last one). */
const PLANS_KEPT = 16;

/**
 * Runs an imported graph's nodes on the primitives, parameters from the flat vector, buffers beside it.
 *
 * Folding at load time can only reach what does not depend on the input. With a dynamic batch axis
 * the shape arithmetic hangs off `Shape(x)`, so it is folded here instead: the first pass with an
 * input shape runs every node and notes which values follow from the input's shape and the graph's
 * constants alone (`Shape` and `Size` of any value whose shape is so known, and every node all of
 * whose inputs are so known); later passes with that shape read those values from the plan and run
 * only the other nodes. Buffers count as known but for BN running statistics, which train mode
 * moves: a plan keeps a copy of the buffers it folded, and a pass that finds one changed (a state
 * dict loaded since) plans again. The input's values and the parameters are never folded, nor is
 * BatchNormalization.
 */
export class GraphLayer implements Layer {
  private readonly literals = new Map<string, Const>();
  private readonly plans = new Map<string, RunPlan>();
  /** how many nodes the last pass ran: all of them on a shape's first pass, the plan's after */
  lastPassNodes = 0;
  /** BN running statistics: buffers that a train-mode pass moves, so never folded */
  private readonly bnStatistics: ReadonlySet<string>;

  constructor(private readonly d: OnnxDescription) {
    for (const [name, t] of Object.entries(d.literals)) this.literals.set(name, Const.fromLiteral(t));
    this.bnStatistics = new Set(d.nodes.filter((n) => n.op === 'BatchNormalization').flatMap((n) => n.inputs.slice(3, 5)));
  }

  /** The input's rank, its static sizes and, for integer inputs, that every value is an integer. */
  checkInput(x: Tensor, kind?: InputKind): void {
    const { name, dims, dtype } = this.d.input;
    const fits = x.shape.length === dims.length && dims.every((d, i) => typeof d !== 'number' || d <= 0 || d === x.shape[i]);
    if (!fits) {
      const want = `[${dims.join(', ')}]`;
      throw new ShapeError(`the input ${formatShape(x.shape)} does not fit the graph input '${name}' of shape ${want} (${this.d.name})`);
    }
    if (kind && kind !== dtype) {
      throw new DTypeError(`the data holds ${kind === 'int' ? 'integer ids' : 'float values'} but the graph input '${name}' of ${this.d.name} takes ${dtype === 'int' ? 'integer ids' : 'float values'}`);
    }
    if (dtype === 'int') {
      const xs = x.data;
      for (let i = 0; i < xs.length; i++) {
        if (!Number.isInteger(xs[i]!)) throw new DTypeError(`the graph input '${name}' takes integer ids, but the data holds ${xs[i]} at position ${i}`);
      }
    }
  }

  forward(ctx: ForwardContext, x: Node): Node {
    const d = this.d;
    const values = new Map<string, Value>(this.literals);
    d.params.forEach((p, i) => values.set(p.name, ctx.params[i]!));
    for (const b of d.buffers) {
      const t = ctx.buffers.get(b.name)!;
      values.set(b.name, b.dtype === 'float' ? new Const('float', [...t.shape], t.data) : new Const(b.dtype, [...t.shape], Float64Array.from(t.data)));
    }
    const input: Value = x.requiresGrad ? x : d.input.dtype === 'float' ? new Const('float', [...x.shape], x.value.data) : new Const('int', [...x.shape], Float64Array.from(x.value.data));
    values.set(d.input.name, input);
    const gctx: GraphContext = { opset: d.opset, mode: ctx.mode, bnStats: ctx.bnStats, bnLayer: bnLayerName };
    const key = x.shape.join(',');
    const plan = this.plans.get(key);
    if (plan && sameBuffers(plan, ctx.buffers)) {
      for (const [name, v] of plan.folded) values.set(name, v);
      for (const node of plan.nodes) this.run(node, values, gctx);
      this.lastPassNodes = plan.nodes.length;
    } else {
      this.remember(key, this.runAndPlan(values, gctx, ctx.buffers));
      this.lastPassNodes = d.nodes.length;
    }
    const out = values.get(d.output.name);
    if (!out) throw new ShapeError(`${d.name}: no node computes the output '${d.output.name}'`);
    if (isConst(out) && out.dtype !== 'float') throw new DTypeError(`${d.name}: the output '${d.output.name}' is ${out.dtype}, not float logits`);
    return toNode(out);
  }

  /** The plan for an input shape, once a pass with that shape has run; undefined before. */
  planFor(inputShape: readonly number[]): RunPlan | undefined {
    return this.plans.get(inputShape.join(','));
  }

  private run(node: GraphNode, values: Map<string, Value>, gctx: GraphContext): void {
    const outs = runNode(node, values, gctx);
    node.outputs.forEach((name, i) => {
      const v = outs[i];
      if (name !== '' && v !== undefined) values.set(name, v);
    });
  }

  /** Runs every node, and returns what later passes with this input shape need to run. */
  private runAndPlan(values: Map<string, Value>, gctx: GraphContext, buffers: ReadonlyMap<string, Tensor>): RunPlan {
    const d = this.d;
    // values that follow from the input's shape and the constants alone
    const fixed = new Set<string>([...this.literals.keys(), ...d.buffers.map((b) => b.name).filter((name) => !this.bnStatistics.has(name))]);
    const foldedFrom = new Set<string>();
    // values whose shape does (the input's shape is the plan's key; parameters and buffers have theirs)
    const fixedShape = new Set<string>([...values.keys()]);
    const kept: GraphNode[] = [];
    for (const node of d.nodes) {
      this.run(node, values, gctx);
      const present = node.inputs.filter((name) => name !== '');
      const shapeKnown = present.every((name) => fixedShape.has(name)) && (shapeInputs[node.op] ?? []).every((slot) => !node.inputs[slot] || fixed.has(node.inputs[slot]!));
      if (shapeKnown) for (const o of node.outputs) if (o !== '') fixedShape.add(o);
      const fromShape = node.op === 'Shape' || node.op === 'Size' ? fixedShape.has(node.inputs[0]!) : present.every((name) => fixed.has(name));
      const outputs = node.outputs.filter((o) => o !== '');
      if (fromShape && node.op !== 'BatchNormalization' && outputs.every((o) => isConst(values.get(o)))) {
        for (const o of outputs) fixed.add(o);
        for (const name of present) foldedFrom.add(name);
      } else {
        kept.push(node);
      }
    }
    const read = new Set(kept.flatMap((n) => n.inputs));
    read.add(d.output.name);
    const folded = new Map<string, Const>();
    for (const name of fixed) if (read.has(name) && !this.literals.has(name) && !buffers.has(name)) folded.set(name, values.get(name) as Const);
    const used = new Map<string, Float32Array>();
    for (const name of foldedFrom) if (buffers.has(name)) used.set(name, Float32Array.from(buffers.get(name)!.data));
    return { nodes: kept, folded, buffers: used };
  }

  private remember(key: string, plan: RunPlan): void {
    this.plans.delete(key);
    if (this.plans.size >= PLANS_KEPT) this.plans.delete(this.plans.keys().next().value!);
    this.plans.set(key, plan);
  }
}

function sameBuffers(plan: RunPlan, buffers: ReadonlyMap<string, Tensor>): boolean {
  for (const [name, was] of plan.buffers) {
    const now = buffers.get(name)?.data;
    if (!now || now.length !== was.length) return false;
    for (let i = 0; i < was.length; i++) if (!Object.is(now[i], was[i])) return false;
  }
  return true;
}

/**
 * The model an imported graph describes. The parameters start at zero: the weights come from the
 * ONNX file (io's loadOnnx) or from a state dict (a worker's model blob).
 */
export function onnxModel(d: OnnxDescription, seed = 0): Model {
  const b = new ModelBuilder();
  const zeros = () => undefined;
  for (const p of d.params) b.param(p.name, p.shape, p.kind, zeros);
  for (const buf of d.buffers) b.buffer(buf.name, new Tensor(buf.shape));
  for (const node of d.nodes) {
    if (node.op !== 'BatchNormalization') continue;
    const momentum = typeof node.attrs.momentum === 'number' ? node.attrs.momentum : 0.9;
    // ONNX keeps (1 − PyTorch's momentum): running = running·momentum + batch·(1 − momentum)
    b.bnLayers.set(bnLayerName(node), { momentum: 1 - momentum, mean: node.inputs[3]!, variance: node.inputs[4]! });
  }
  const inputShape = d.input.dims.slice(1).map((x) => (typeof x === 'number' ? x : -1));
  return new Model(d, b, new GraphLayer(d), inputShape, seed);
}

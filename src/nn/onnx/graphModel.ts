import type { Node } from '../../autodiff/index.js';
import { DTypeError, ShapeError } from '../../errors.js';
import { formatShape, Tensor } from '../../tensor/index.js';
import { Model } from '../model.js';
import { ModelBuilder, type ForwardContext, type Layer } from '../module.js';
import type { GraphNode, OnnxDescription } from './description.js';
import { runNode } from './execute.js';
import type { GraphContext } from './operators.js';
import { Const, isConst, toNode, type Value } from './values.js';

/** What the data fed to a model holds: float features or pixels, or integer ids (tokens) stored exactly in float32. */
export type InputKind = 'float' | 'int';

function bnLayerName(node: GraphNode): string {
  const mean = node.inputs[3] ?? '';
  return mean.endsWith('.running_mean') ? mean.slice(0, -'.running_mean'.length) : node.name;
}

/** Runs an imported graph's nodes on the primitives, parameters from the flat vector, buffers beside it. */
export class GraphLayer implements Layer {
  private readonly literals = new Map<string, Const>();

  constructor(private readonly d: OnnxDescription) {
    for (const [name, t] of Object.entries(d.literals)) this.literals.set(name, Const.fromLiteral(t));
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
    for (const node of d.nodes) {
      const outs = runNode(node, values, gctx);
      node.outputs.forEach((name, i) => {
        const v = outs[i];
        if (name !== '' && v !== undefined) values.set(name, v);
      });
    }
    const out = values.get(d.output.name);
    if (!out) throw new ShapeError(`${d.name}: no node computes the output '${d.output.name}'`);
    if (isConst(out) && out.dtype !== 'float') throw new DTypeError(`${d.name}: the output '${d.output.name}' is ${out.dtype}, not float logits`);
    return toNode(out);
  }
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

import { constant, type Node } from '../autodiff/index.js';
import { DTypeError, OptionError, ShapeError } from '../errors.js';
import type { Activation } from '../ops/index.js';
import { formatShape, Tensor, type Shape } from '../tensor/index.js';
import type { BnLayerInfo, BnMode, ForwardContext, Layer, ModelBuilder, ParamBlock } from './module.js';
import type { OnnxDescription } from './onnx/description.js';

/** BN everywhere, nowhere, or per part: the stem and each of the three stages separately. */
export type BatchNormSetting = boolean | { stem: boolean; stages: [boolean, boolean, boolean] };

export interface ResNetDescription {
  arch: 'resnet';
  depth: number;
  width: number;
  classes: number;
  batchNorm: BatchNormSetting;
  residual: boolean;
}

export interface MlpDescription {
  arch: 'mlp';
  sizes: number[];
  activation: Activation;
}

/** A built-in architecture (what an --arch shorthand names). */
export type ModelDescription = ResNetDescription | MlpDescription;

/** Everything needed to rebuild any model's architecture, an imported graph included (it travels in checkpoint metadata). */
export type AnyModelDescription = ModelDescription | OnnxDescription;

export function describeModel(d: AnyModelDescription): string {
  if (d.arch === 'mlp') return `MLP ${d.sizes.join('-')} (${d.activation})`;
  if (d.arch === 'onnx') {
    const bn = d.nodes.some((n) => n.op === 'BatchNormalization') ? ', BN' : '';
    return `ONNX graph ${d.name} (${d.nodes.length} nodes, ${d.params.length} parameter tensors${bn})`;
  }
  const bn = d.batchNorm === true ? 'BN' : d.batchNorm === false ? 'no BN' : `BN in ${bnParts(d.batchNorm)}`;
  return `ResNet-${d.depth}${d.width !== 16 ? ` width ${d.width}` : ''} (${bn}, ${d.residual ? 'residual' : 'no residual'}, ${d.classes} classes)`;
}

function bnParts(s: { stem: boolean; stages: [boolean, boolean, boolean] }): string {
  const parts = [s.stem ? 'stem' : null, ...s.stages.map((on, i) => (on ? `stage ${i + 1}` : null))].filter(Boolean);
  return parts.length ? parts.join(', ') : 'no part';
}

/** How many classes the model's outputs score (its logits per sample). */
export function modelClassCount(model: Model): number {
  const d = model.description;
  if (d.arch === 'resnet') return d.classes;
  if (d.arch === 'mlp') return d.sizes.at(-1)!;
  // an imported graph: the last dimension of its output, when the file states it
  const last = d.output.dims.at(-1);
  return typeof last === 'number' && last > 0 ? last : Infinity;
}

/** Refuses data with more classes than the model has outputs: a label past the last logit has no score. */
export function checkClassCount(model: Model, data: { readonly name: string; readonly classes: number }): void {
  const classes = modelClassCount(model);
  if (data.classes > classes) {
    throw new OptionError(`${data.name} has ${data.classes} classes but the model has ${classes} outputs (${describeModel(model.description)}); use a model with ${data.classes} outputs, or data with at most ${classes} classes`);
  }
}

export interface ForwardResult {
  logits: Node;
  bnStats: ForwardContext['bnStats'];
}

/**
 * A network with all of its parameters in one flat vector (`theta`); `blocks` are the named index
 * ranges (PyTorch's parameter names and order). Buffers (BN running statistics) live beside it.
 */
export class Model {
  readonly theta: Float32Array;
  readonly blocks: readonly ParamBlock[];
  readonly buffers: Map<string, Tensor>;
  readonly stateOrder: readonly { name: string; type: 'param' | 'buffer' }[];
  /** BN layers' momentum for the running statistics, by layer name */
  readonly bnLayers: ReadonlyMap<string, BnLayerInfo>;
  /** how many training batches updated the running statistics (PyTorch's num_batches_tracked) */
  batchesTracked = 0;
  /** blocks by name, so that a state dict of n tensors loads in O(n) rather than a search per key */
  private readonly blockByName: ReadonlyMap<string, ParamBlock>;

  constructor(
    readonly description: AnyModelDescription,
    builder: ModelBuilder,
    private readonly root: Layer,
    readonly inputShape: Shape,
    seed: number,
  ) {
    const built = builder.finish(seed);
    this.theta = built.theta;
    this.blocks = built.blocks;
    this.buffers = built.buffers;
    this.stateOrder = builder.stateOrder;
    this.bnLayers = builder.bnLayers;
    this.blockByName = new Map(this.blocks.map((b) => [b.name, b]));
  }

  get size(): number {
    return this.theta.length;
  }

  /** The network's root layer (an imported graph's `GraphLayer`, whose run plans a test can read). */
  get layer(): Layer {
    return this.root;
  }

  get shapes(): Shape[] {
    return this.blocks.map((b) => b.shape);
  }

  get hasBatchNorm(): boolean {
    return this.bnLayers.size > 0;
  }

  /**
   * A copy with weights and buffers of its own, so that something computing at this state (a
   * curvature operator) is not moved by later in-place changes; the layers, which hold no numbers,
   * are shared.
   */
  clone(): Model {
    const copy = Object.create(Object.getPrototypeOf(this) as object) as Model;
    return Object.assign(copy, this, {
      theta: Float32Array.from(this.theta),
      buffers: new Map([...this.buffers].map(([name, t]) => [name, t.clone()])),
    });
  }

  /** A view of one parameter tensor. */
  param(name: string): Tensor {
    const b = this.blockByName.get(name);
    if (!b) throw new OptionError(`the model has no parameter '${name}'`);
    return new Tensor(b.shape, this.theta.subarray(b.offset, b.offset + b.length));
  }

  /**
   * Checks that a batch of inputs fits the model (channels or features; an imported graph its
   * declared input). `kind` says what the data holds when known: integer ids fit only a graph
   * that takes them.
   */
  checkInput(x: Tensor, kind?: 'float' | 'int'): void {
    if (this.root.checkInput) return this.root.checkInput(x, kind);
    if (kind === 'int') throw new DTypeError(`the data holds integer ids, but ${describeModel(this.description)} takes float inputs`);
    const want = this.inputShape;
    const got = x.shape.slice(1);
    const ok = this.description.arch === 'mlp' ? got.reduce((p, d) => p * d, 1) === want[0] : got.length === 3 && got[0] === want[0];
    if (!ok) {
      const expects = this.description.arch === 'resnet' ? `[N, ${want[0]}, H, W] images with ${want[0]} channels` : `[N, ${want[0]}] (${want[0]} features)`;
      throw new ShapeError(`the input ${formatShape(x.shape)} does not fit ${describeModel(this.description)}, which expects ${expects}`);
    }
  }

  /** Runs the network on parameter nodes (one per block, e.g. from valueAndGrad) and an input batch. */
  forward(params: readonly Node[], x: Tensor | Node, mode: BnMode, kind?: 'float' | 'int'): ForwardResult {
    const input = x instanceof Tensor ? constant(x) : x;
    this.checkInput(input.value, kind);
    const ctx: ForwardContext = { params, buffers: this.buffers, mode, bnStats: new Map() };
    return { logits: this.root.forward(ctx, input), bnStats: ctx.bnStats };
  }

  /** PyTorch's running-statistics update after a train-mode pass: r ← (1−m)·r + m·batch (variance unbiased). */
  updateRunningStats(stats: ForwardResult['bnStats']): void {
    for (const [name, s] of stats) {
      const layer = this.bnLayers.get(name);
      const m = layer?.momentum ?? 0.1;
      const rm = this.buffers.get(layer?.mean ?? `${name}.running_mean`)!.data;
      const rv = this.buffers.get(layer?.variance ?? `${name}.running_var`)!.data;
      const unbias = s.count > 1 ? s.count / (s.count - 1) : 1;
      for (let c = 0; c < rm.length; c++) {
        rm[c] = (1 - m) * rm[c]! + m * s.mean[c]!;
        rv[c] = (1 - m) * rv[c]! + m * s.variance[c]! * unbias;
      }
    }
    if (stats.size > 0) this.batchesTracked++;
  }
}

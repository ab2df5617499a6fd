import type { Node } from '../autodiff/index.js';
import { Rng, sizeOf, Tensor, type Shape } from '../tensor/index.js';

/**
 * What a parameter is, for per-layer work and for leaving BN and biases out of directions.
 * Imported graphs add embedding tables, layer-norm scales and shifts, and 'other' for tensors
 * that are none of these (a ViT's class token and position table, say).
 */
export type ParamKind =
  | 'conv.weight'
  | 'conv.bias'
  | 'linear.weight'
  | 'linear.bias'
  | 'bn.weight'
  | 'bn.bias'
  | 'ln.weight'
  | 'ln.bias'
  | 'embedding.weight'
  | 'other';

/** One named parameter tensor: an index range of the flat parameter vector. */
export interface ParamBlock {
  name: string;
  offset: number;
  length: number;
  shape: number[];
  kind: ParamKind;
}

export type BnMode = 'train' | 'eval';

/** What a forward pass reads: one node per parameter block, the buffers, and the BN mode. */
export interface ForwardContext {
  params: readonly Node[];
  buffers: ReadonlyMap<string, Tensor>;
  mode: BnMode;
  /** train mode: each BN layer's batch mean and biased variance, by layer name */
  bnStats: Map<string, { mean: Float32Array; variance: Float32Array; count: number }>;
}

type Init = (rng: Rng, data: Float32Array) => void;

export interface BnLayerInfo {
  momentum: number;
  mean?: string;
  variance?: string;
}

interface PendingParam {
  name: string;
  shape: number[];
  kind: ParamKind;
  init: Init;
}

/**
 * Collects a model's parameters and buffers in PyTorch's registration order while its layers are
 * constructed; `finish` lays the parameters out in one flat vector and initialises them.
 */
export class ModelBuilder {
  private readonly params: PendingParam[] = [];
  private readonly bufferList: { name: string; tensor: Tensor }[] = [];
  /** the state-dict order: parameters and buffers interleaved as PyTorch lists them */
  readonly stateOrder: { name: string; type: 'param' | 'buffer' }[] = [];
  /** batch-norm layers by name, with the momentum of their running statistics (and their buffers' names, when not NAME.running_mean/var) */
  readonly bnLayers = new Map<string, BnLayerInfo>();

  param(name: string, shape: Shape, kind: ParamKind, init: Init): number {
    this.params.push({ name, shape: [...shape], kind, init });
    this.stateOrder.push({ name, type: 'param' });
    return this.params.length - 1;
  }

  buffer(name: string, tensor: Tensor): string {
    this.bufferList.push({ name, tensor });
    this.stateOrder.push({ name, type: 'buffer' });
    return name;
  }

  finish(seed: number): { theta: Float32Array; blocks: ParamBlock[]; buffers: Map<string, Tensor> } {
    let offset = 0;
    const blocks = this.params.map((p) => {
      const b: ParamBlock = { name: p.name, offset, length: sizeOf(p.shape), shape: p.shape, kind: p.kind };
      offset += b.length;
      return b;
    });
    const theta = new Float32Array(offset);
    const rng = new Rng(seed);
    this.params.forEach((p, i) => {
      const b = blocks[i]!;
      p.init(rng, theta.subarray(b.offset, b.offset + b.length));
    });
    return { theta, blocks, buffers: new Map(this.bufferList.map((b) => [b.name, b.tensor])) };
  }
}

/** A layer: registers its parameters when built, computes with nodes when run. */
export interface Layer {
  forward(ctx: ForwardContext, x: Node): Node;
  /** a root layer that knows what input it takes checks a batch (shape, and integer or float data) */
  checkInput?(x: Tensor, kind?: 'float' | 'int'): void;
}

/** PyTorch's default Linear/Conv initialisation: U(−1/√fan_in, 1/√fan_in) (kaiming_uniform with a=√5). */
export function uniformFanIn(fanIn: number): Init {
  const bound = 1 / Math.sqrt(fanIn);
  return (rng, data) => rng.fillUniform(data, -bound, bound);
}

/** He-normal with fan-out, as the CIFAR ResNets of PyHessian: N(0, 2 / (kh·kw·out_channels)). */
export function heNormalFanOut(fanOut: number): Init {
  const std = Math.sqrt(2 / fanOut);
  return (rng, data) => rng.fillNormal(data, 0, std);
}

export const constantInit = (value: number): Init => (_rng, data) => data.fill(value);

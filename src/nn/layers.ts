import type { Node } from '../autodiff/index.js';
import { activations, addRelu, batchNorm2d, conv2d, linear, relu, type Activation } from '../ops/index.js';
import { Tensor } from '../tensor/index.js';
import { constantInit, heNormalFanOut, uniformFanIn, type ForwardContext, type Layer, type ModelBuilder } from './module.js';

export class Linear implements Layer {
  private readonly weight: number;
  private readonly bias: number | undefined;

  constructor(b: ModelBuilder, name: string, inFeatures: number, outFeatures: number, withBias = true) {
    this.weight = b.param(`${name}.weight`, [outFeatures, inFeatures], 'linear.weight', uniformFanIn(inFeatures));
    this.bias = withBias ? b.param(`${name}.bias`, [outFeatures], 'linear.bias', uniformFanIn(inFeatures)) : undefined;
  }

  forward(ctx: ForwardContext, x: Node): Node {
    return linear(x, ctx.params[this.weight]!, this.bias === undefined ? undefined : ctx.params[this.bias]);
  }
}

export interface Conv2dSpec {
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
  bias?: boolean;
  /** 'he-fan-out' (CIFAR ResNets) or 'pytorch' (nn.Conv2d's default) */
  init?: 'he-fan-out' | 'pytorch';
}

export class Conv2d implements Layer {
  private readonly weight: number;
  private readonly bias: number | undefined;
  private readonly stride: number;
  private readonly padding: number;

  constructor(b: ModelBuilder, name: string, spec: Conv2dSpec) {
    const { inChannels: c, outChannels: o, kernel: k } = spec;
    const init = spec.init === 'pytorch' ? uniformFanIn(c * k * k) : heNormalFanOut(k * k * o);
    this.weight = b.param(`${name}.weight`, [o, c, k, k], 'conv.weight', init);
    this.bias = spec.bias ? b.param(`${name}.bias`, [o], 'conv.bias', uniformFanIn(c * k * k)) : undefined;
    this.stride = spec.stride ?? 1;
    this.padding = spec.padding ?? 0;
  }

  forward(ctx: ForwardContext, x: Node): Node {
    const bias = this.bias === undefined ? undefined : ctx.params[this.bias];
    return conv2d(x, ctx.params[this.weight]!, { stride: this.stride, padding: this.padding }, bias);
  }
}

export class BatchNorm2d implements Layer {
  private readonly weight: number;
  private readonly bias: number;
  readonly runningMean: string;
  readonly runningVar: string;

  constructor(
    b: ModelBuilder,
    readonly name: string,
    channels: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
  ) {
    this.weight = b.param(`${name}.weight`, [channels], 'bn.weight', constantInit(1));
    this.bias = b.param(`${name}.bias`, [channels], 'bn.bias', constantInit(0));
    this.runningMean = b.buffer(`${name}.running_mean`, new Tensor([channels]));
    this.runningVar = b.buffer(`${name}.running_var`, new Tensor([channels], new Float32Array(channels).fill(1)));
    b.bnLayers.set(name, { momentum });
  }

  /** Batch norm, and with `relu` the ReLU after it, fused into one primitive (the same numbers as relu(bn(x))). */
  forward(ctx: ForwardContext, x: Node, relu = false): Node {
    const r = batchNorm2d(
      x,
      ctx.params[this.weight]!,
      ctx.params[this.bias]!,
      ctx.buffers.get(this.runningMean)!,
      ctx.buffers.get(this.runningVar)!,
      ctx.mode,
      this.eps,
      relu,
    );
    if (r.batchMean && r.batchVar) {
      const count = x.value.size / x.shape[1]!;
      ctx.bnStats.set(this.name, { mean: r.batchMean, variance: r.batchVar, count });
    }
    return r.output;
  }
}

export class Act implements Layer {
  constructor(readonly kind: Activation) {}

  forward(_ctx: ForwardContext, x: Node): Node {
    return activations[this.kind](x);
  }
}

/** The CIFAR ResNet BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU. */
export class BasicBlock implements Layer {
  private readonly conv1: Conv2d;
  private readonly bn1: BatchNorm2d | undefined;
  private readonly conv2: Conv2d;
  private readonly bn2: BatchNorm2d | undefined;
  private readonly downsample: { conv: Conv2d; bn: BatchNorm2d | undefined } | undefined;

  constructor(
    b: ModelBuilder,
    name: string,
    inChannels: number,
    outChannels: number,
    stride: number,
    batchNorm: boolean,
    private readonly residual: boolean,
  ) {
    this.conv1 = new Conv2d(b, `${name}.conv1`, { inChannels, outChannels, kernel: 3, stride, padding: 1 });
    this.bn1 = batchNorm ? new BatchNorm2d(b, `${name}.bn1`, outChannels) : undefined;
    this.conv2 = new Conv2d(b, `${name}.conv2`, { inChannels: outChannels, outChannels, kernel: 3, padding: 1 });
    this.bn2 = batchNorm ? new BatchNorm2d(b, `${name}.bn2`, outChannels) : undefined;
    if (residual && (stride !== 1 || inChannels !== outChannels)) {
      const conv = new Conv2d(b, `${name}.downsample.0`, { inChannels, outChannels, kernel: 1, stride });
      this.downsample = { conv, bn: batchNorm ? new BatchNorm2d(b, `${name}.downsample.1`, outChannels) : undefined };
    }
  }

  forward(ctx: ForwardContext, x: Node): Node {
    let out = this.conv1.forward(ctx, x);
    out = this.bn1 ? this.bn1.forward(ctx, out, true) : relu(out);
    out = this.conv2.forward(ctx, out);
    if (this.bn2) out = this.bn2.forward(ctx, out);
    if (this.residual) {
      let shortcut = x;
      if (this.downsample) {
        shortcut = this.downsample.conv.forward(ctx, x);
        if (this.downsample.bn) shortcut = this.downsample.bn.forward(ctx, shortcut);
      }
      return addRelu(out, shortcut); // relu(out + shortcut) in one primitive
    }
    return relu(out);
  }
}

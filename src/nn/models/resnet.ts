import type { Node } from '../../autodiff/index.js';
import { OptionError } from '../../errors.js';
import { globalAvgPool, relu } from '../../ops/index.js';
import { BasicBlock, BatchNorm2d, Conv2d, Linear } from '../layers.js';
import { Model, type BatchNormSetting, type ResNetDescription } from '../model.js';
import { ModelBuilder, type ForwardContext, type Layer } from '../module.js';

export interface ResNetOptions {
  depth: number;
  width?: number;
  classes?: number;
  batchNorm?: BatchNormSetting;
  residual?: boolean;
  seed?: number;
}

function bnFlags(s: BatchNormSetting): { stem: boolean; stages: [boolean, boolean, boolean] } {
  return typeof s === 'boolean' ? { stem: s, stages: [s, s, s] } : s;
}

/**
 * The CIFAR ResNet of the PyHessian paper: depth 6n+2, a conv3x3 stem without bias, three stages
 * of n BasicBlocks with width, 2·width and 4·width channels (stride 2 at the start of stages 2 and
 * 3), a 1x1-conv (+BN) shortcut only where the shape changes and residuals are on, global average
 * pooling and a linear head. Names, shapes and order equal PyTorch's state_dict for that definition.
 */
export function resnet(opts: ResNetOptions): Model {
  const { depth } = opts;
  if (!Number.isInteger(depth) || depth < 8 || (depth - 2) % 6 !== 0) {
    throw new OptionError(`ResNet depth must be 6n+2 with n ≥ 1 (8, 14, 20, 32, 38, 44, 56, 110, ...), got ${depth}`);
  }
  const width = opts.width ?? 16;
  const classes = opts.classes ?? 10;
  if (!Number.isInteger(width) || width < 1) throw new OptionError(`ResNet width must be a positive integer, got ${width}`);
  if (!Number.isInteger(classes) || classes < 2) throw new OptionError(`the number of classes must be an integer ≥ 2, got ${classes}`);
  const batchNorm = opts.batchNorm ?? true;
  const residual = opts.residual ?? true;
  const bn = bnFlags(batchNorm);
  const n = (depth - 2) / 6;
  const b = new ModelBuilder();

  const stem = new Conv2d(b, 'conv1', { inChannels: 3, outChannels: width, kernel: 3, padding: 1 });
  const stemBn = bn.stem ? new BatchNorm2d(b, 'bn1', width) : undefined;
  const blocks: BasicBlock[] = [];
  let cin = width;
  [width, 2 * width, 4 * width].forEach((c, stage) => {
    for (let j = 0; j < n; j++) {
      const name = `layer${stage + 1}.${j}`;
      blocks.push(new BasicBlock(b, name, cin, c, stage > 0 && j === 0 ? 2 : 1, bn.stages[stage]!, residual));
      cin = c;
    }
  });
  const fc = new Linear(b, 'fc', cin, classes);

  const root: Layer = {
    forward(ctx: ForwardContext, x: Node): Node {
      let h = stem.forward(ctx, x);
      if (stemBn) h = stemBn.forward(ctx, h);
      h = relu(h);
      for (const block of blocks) h = block.forward(ctx, h);
      return fc.forward(ctx, globalAvgPool(h));
    },
  };
  const description: ResNetDescription = { arch: 'resnet', depth, width, classes, batchNorm, residual };
  return new Model(description, b, root, [3], opts.seed ?? 0);
}

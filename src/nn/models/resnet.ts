import type { Node } from '../../autodiff/index.js';
import { globalAvgPool, relu } from '../../ops/index.js';
import { BasicBlock, BatchNorm2d, Conv2d, Linear } from '../layers.js';
import { Model, type BatchNormSetting } from '../model.js';
import { ModelBuilder, type ForwardContext, type Layer } from '../module.js';
import { bnFlags, checkResNet } from './description.js';

export interface ResNetOptions {
  depth: number;
  width?: number;
  classes?: number;
  batchNorm?: BatchNormSetting;
  residual?: boolean;
  seed?: number;
}

/**
 * The CIFAR ResNet of the PyHessian paper: depth 6n+2, a conv3x3 stem without bias, three stages
 * of n BasicBlocks with width, 2·width and 4·width channels (stride 2 at the start of stages 2 and
 * 3), a 1x1-conv (+BN) shortcut only where the shape changes and residuals are on, global average
 * pooling and a linear head. Names, shapes and order equal PyTorch's state_dict for that definition.
 */
export function resnet(opts: ResNetOptions): Model {
  const description = checkResNet({
    arch: 'resnet',
    depth: opts.depth,
    width: opts.width ?? 16,
    classes: opts.classes ?? 10,
    batchNorm: opts.batchNorm ?? true,
    residual: opts.residual ?? true,
  });
  const { depth, width, classes, batchNorm, residual } = description;
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
      h = stemBn ? stemBn.forward(ctx, h, true) : relu(h);
      for (const block of blocks) h = block.forward(ctx, h);
      return fc.forward(ctx, globalAvgPool(h));
    },
  };
  return new Model(description, b, root, [3], opts.seed ?? 0);
}

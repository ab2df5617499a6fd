import type { Node } from '../../autodiff/index.js';
import { activations, flatten, type Activation } from '../../ops/index.js';
import { Linear } from '../layers.js';
import { Model } from '../model.js';
import { ModelBuilder, type ForwardContext, type Layer } from '../module.js';
import { checkMlp } from './description.js';

export interface MlpOptions {
  sizes: number[];
  activation?: Activation;
  seed?: number;
}

/** Linear layers named layers.0, layers.1, ... with an activation between them (none after the last). */
export function mlp(opts: MlpOptions): Model {
  const description = checkMlp({ arch: 'mlp', sizes: opts.sizes, activation: opts.activation ?? 'relu' });
  const { sizes, activation } = description;
  const b = new ModelBuilder();
  const layers = sizes.slice(1).map((out, i) => new Linear(b, `layers.${i}`, sizes[i]!, out));
  const act = activations[activation];
  const root: Layer = {
    forward(ctx: ForwardContext, x: Node): Node {
      let h = x.shape.length === 2 ? x : flatten(x);
      layers.forEach((layer, i) => {
        h = layer.forward(ctx, h);
        if (i < layers.length - 1) h = act(h);
      });
      return h;
    },
  };
  return new Model(description, b, root, [sizes[0]!], opts.seed ?? 0);
}

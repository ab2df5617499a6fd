import type { Node } from '../../autodiff/index.js';
import { OptionError } from '../../errors.js';
import { activations, flatten, type Activation } from '../../ops/index.js';
import { Linear } from '../layers.js';
import { Model, type MlpDescription } from '../model.js';
import { ModelBuilder, type ForwardContext, type Layer } from '../module.js';

export interface MlpOptions {
  sizes: number[];
  activation?: Activation;
  seed?: number;
}

/** Linear layers named layers.0, layers.1, ... with an activation between them (none after the last). */
export function mlp(opts: MlpOptions): Model {
  const { sizes } = opts;
  const activation = opts.activation ?? 'relu';
  if (sizes.length < 2 || sizes.some((s) => !Number.isInteger(s) || s < 1)) {
    throw new OptionError(`an MLP needs at least two positive integer layer sizes, got [${sizes.join(', ')}]`);
  }
  if (!(activation in activations)) {
    throw new OptionError(`unknown activation '${activation}' (choose ${Object.keys(activations).join(', ')})`);
  }
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
  const description: MlpDescription = { arch: 'mlp', sizes: [...sizes], activation };
  return new Model(description, b, root, [sizes[0]!], opts.seed ?? 0);
}

import { NonFiniteError, OptionError } from '../errors.js';

/** Loss (and accuracy) of the model at a parameter vector: one batch or a whole dataset. */
export type Evaluator = (theta: Float32Array) => Promise<{ loss: number; accuracy: number }> | { loss: number; accuracy: number };

export interface GridOptions {
  /** grid points per axis (odd counts put 0 on the grid) */
  steps: number;
  /** coordinates run from −range to +range */
  range: number;
  onProgress?: (p: { done: number; total: number; label: string }) => void;
  /** stops between evaluations; what was finished is returned, the rest is NaN */
  signal?: AbortSignal;
}

export interface Landscape1D {
  dims: 1;
  alphas: number[];
  loss: number[];
  /** NaN where the loss is not finite */
  accuracy: number[];
  /** false when stopped early; unfinished points are NaN */
  complete: boolean;
}

export interface Landscape2D {
  dims: 2;
  alphas: number[];
  betas: number[];
  /** loss[i][j] at alphas[i], betas[j] */
  loss: number[][];
  accuracy: number[][];
  complete: boolean;
}

/**
 * The loss and accuracy at the trained weights, refused when the loss is not finite: a surface
 * around NaN has no shape (every point is NaN), so this fails as analyze does rather than
 * writing a landscape "from Infinity to -Infinity".
 */
export async function originEvaluation(evaluate: Evaluator, theta0: Float32Array): Promise<{ loss: number; accuracy: number }> {
  const r = await evaluate(theta0);
  if (!Number.isFinite(r.loss)) {
    throw new NonFiniteError(`the loss at the trained weights is ${r.loss} (not finite): the weights or inputs hold NaN/inf, or the model diverged; there is no landscape around it`);
  }
  return r;
}

/** Where the loss is not finite (the weights overflowed), the accuracy of that forward pass means nothing either. */
function pointEvaluation(r: { loss: number; accuracy: number }): { loss: number; accuracy: number } {
  return Number.isFinite(r.loss) ? r : { loss: r.loss, accuracy: Number.NaN };
}

/** Lets signals (Ctrl-C) and progress output through between evaluations, which are synchronous. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export function gridCoordinates(steps: number, range: number): number[] {
  if (!Number.isInteger(steps) || steps < 2) throw new OptionError(`steps must be an integer of at least 2, got ${steps}`);
  if (!(range > 0) || !Number.isFinite(range)) throw new OptionError(`range must be a positive number, got ${range}`);
  return Array.from({ length: steps }, (_, i) => -range + (2 * range * i) / (steps - 1));
}

function point(theta0: Float32Array, dirs: readonly Float32Array[], coeffs: readonly number[]): Float32Array {
  const t = new Float32Array(theta0.length);
  for (let i = 0; i < t.length; i++) {
    let v = theta0[i]!;
    for (let j = 0; j < dirs.length; j++) v += coeffs[j]! * dirs[j]![i]!;
    t[i] = v;
  }
  return t;
}

/** The loss along θ₀ + α·d for α on a grid. */
export async function landscape1d(evaluate: Evaluator, theta0: Float32Array, d: Float32Array, opts: GridOptions): Promise<Landscape1D> {
  const alphas = gridCoordinates(opts.steps, opts.range);
  const loss = alphas.map(() => NaN), accuracy = alphas.map(() => NaN);
  let complete = true;
  for (let i = 0; i < alphas.length; i++) {
    if (opts.signal?.aborted) {
      complete = false;
      break;
    }
    await nextTurn();
    const r = pointEvaluation(await evaluate(point(theta0, [d], [alphas[i]!])));
    loss[i] = r.loss;
    accuracy[i] = r.accuracy;
    opts.onProgress?.({ done: i + 1, total: alphas.length, label: 'landscape' });
  }
  return { dims: 1, alphas, loss, accuracy, complete };
}

/** The loss over θ₀ + α·d₁ + β·d₂ for (α, β) on a square grid. */
export async function landscape2d(evaluate: Evaluator, theta0: Float32Array, d1: Float32Array, d2: Float32Array, opts: GridOptions): Promise<Landscape2D> {
  const alphas = gridCoordinates(opts.steps, opts.range);
  const betas = alphas.slice();
  const loss = alphas.map(() => betas.map(() => NaN));
  const accuracy = alphas.map(() => betas.map(() => NaN));
  const total = alphas.length * betas.length;
  let done = 0, complete = true;
  outer: for (let i = 0; i < alphas.length; i++) {
    for (let j = 0; j < betas.length; j++) {
      if (opts.signal?.aborted) {
        complete = false;
        break outer;
      }
      await nextTurn();
      const r = pointEvaluation(await evaluate(point(theta0, [d1, d2], [alphas[i]!, betas[j]!])));
      loss[i]![j] = r.loss;
      accuracy[i]![j] = r.accuracy;
      opts.onProgress?.({ done: ++done, total, label: 'landscape' });
    }
  }
  return { dims: 2, alphas, betas, loss, accuracy, complete };
}

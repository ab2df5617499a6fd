/**
 * Stochastic gradient descent with the update rules of torch.optim.SGD, on one flat parameter
 * vector:
 *   g   ← g + weightDecay·θ                       (L2 on every parameter, as PyHessian trains)
 *   buf ← g on the first step, else momentum·buf + (1 − dampening)·g
 *   d   ← nesterov ? g + momentum·buf : buf       (d = g when momentum is 0)
 *   θ   ← θ − lr·d
 * The learning rate is passed to each step rather than stored, so a schedule stays a pure function
 * and the optimiser's state is only the momentum buffer.
 */
import { OptionError, ShapeError } from '../errors.js';

export interface SgdOptions {
  /** default 0.9, as PyHessian's training script */
  momentum?: number;
  /** default 0 */
  dampening?: number;
  /** default 0 */
  weightDecay?: number;
  /** default false */
  nesterov?: boolean;
}

/** What a checkpoint keeps of the optimiser: the momentum buffer (null before the first step) and the step count. */
export interface SgdState {
  momentumBuffer: Float32Array | null;
  steps: number;
}

export class Sgd {
  readonly size: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private buffer: Float32Array | null = null;
  private stepCount = 0;

  constructor(size: number, options: SgdOptions = {}) {
    if (!Number.isInteger(size) || size < 0) throw new OptionError(`SGD needs a parameter count that is a non-negative integer, got ${size}`);
    this.size = size;
    this.momentum = options.momentum ?? 0.9;
    this.dampening = options.dampening ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
    for (const [name, v] of [['momentum', this.momentum], ['dampening', this.dampening], ['weight decay', this.weightDecay]] as const) {
      if (!Number.isFinite(v) || v < 0) throw new OptionError(`SGD ${name} must be a finite number ≥ 0, got ${v}`);
    }
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new OptionError(`Nesterov momentum needs momentum > 0 and dampening 0 (got momentum ${this.momentum}, dampening ${this.dampening})`);
    }
  }

  get steps(): number {
    return this.stepCount;
  }

  /** One update of `theta` in place from `gradient` (left unchanged) at learning rate `lr`. */
  step(theta: Float32Array, gradient: Float32Array, lr: number): void {
    if (theta.length !== this.size || gradient.length !== this.size) {
      throw new ShapeError(`SGD was made for ${this.size} parameters, got a parameter vector of ${theta.length} and a gradient of ${gradient.length}`);
    }
    if (!Number.isFinite(lr) || lr < 0) throw new OptionError(`the learning rate must be a finite number ≥ 0, got ${lr}`);
    // float32 coefficients and a rounding wherever PyTorch's single-tensor SGD stores a float32
    // tensor (buf·momentum, then + g), so trajectories match torch's CPU results bit for bit
    const { nesterov } = this;
    const momentum = Math.fround(this.momentum);
    const wd = Math.fround(this.weightDecay);
    const rate = Math.fround(lr);
    const n = this.size;
    if (momentum === 0) {
      for (let i = 0; i < n; i++) {
        const g = Math.fround(gradient[i]! + wd * theta[i]!);
        theta[i] = theta[i]! - rate * g;
      }
    } else {
      const first = this.buffer === null;
      const buf = (this.buffer ??= new Float32Array(n));
      const keep = Math.fround(1 - this.dampening);
      for (let i = 0; i < n; i++) {
        const g = Math.fround(gradient[i]! + wd * theta[i]!);
        const b = first ? g : Math.fround(Math.fround(momentum * buf[i]!) + keep * g);
        buf[i] = b;
        const d = nesterov ? Math.fround(g + momentum * b) : b;
        theta[i] = theta[i]! - rate * d;
      }
    }
    this.stepCount++;
  }

  /** A copy of the state, for a checkpoint. */
  state(): SgdState {
    return { momentumBuffer: this.buffer ? this.buffer.slice() : null, steps: this.stepCount };
  }

  /** Restores a state from `state()` (copied, so the caller's arrays stay theirs). */
  loadState(state: SgdState): void {
    if (state.momentumBuffer && state.momentumBuffer.length !== this.size) {
      throw new ShapeError(`the saved momentum buffer has ${state.momentumBuffer.length} values but the model has ${this.size} parameters`);
    }
    if (!Number.isInteger(state.steps) || state.steps < 0) throw new OptionError(`the saved optimiser step count must be a non-negative integer, got ${state.steps}`);
    this.buffer = state.momentumBuffer ? state.momentumBuffer.slice() : null;
    this.stepCount = state.steps;
  }
}

import type { LinearOperator } from './linearOperator.js';
import { applyBlock } from './linearOperator.js';

/** What an algorithm reports after each block of products. `done` and `total` count products. */
export interface Progress {
  done: number;
  total?: number;
  label: string;
}

/**
 * Options every algorithm accepts.
 *
 * Cancelling: the signal is looked at between products (an operator's product in flight is never
 * interrupted). An algorithm that has completed at least one product stops and resolves with
 * what it has so far, marked `aborted: true`; one aborted before its first product rejects with
 * `signal.reason` (a DOMException named AbortError unless the caller gave another reason).
 */
export interface RunOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
}

/** The fields that make every result self-describing. */
export interface RunRecord<O> {
  method: string;
  /** The options actually used, defaults filled in (callbacks and signal left out). */
  options: O;
  /** Operator products (a block of k vectors counts k). */
  products: number;
  wallTimeMs: number;
  aborted: boolean;
}

/** Routes an algorithm's products through one place: counting, progress, cancellation and timing. */
export class RunContext {
  products = 0;
  private abortedFlag = false;
  private readonly started = performance.now();

  constructor(
    private readonly op: LinearOperator,
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly run: RunOptions,
  ) {
    if (run.signal?.aborted) throw run.signal.reason;
  }

  /** True once the caller has asked to stop; the algorithm then returns its partial result. */
  get stopRequested(): boolean {
    if (!this.abortedFlag && this.run.signal?.aborted) {
      if (this.products === 0) throw this.run.signal.reason;
      this.abortedFlag = true;
    }
    return this.abortedFlag;
  }

  get aborted(): boolean {
    return this.abortedFlag;
  }

  async apply(vs: Float32Array[]): Promise<Float32Array[]> {
    const out = await applyBlock(this.op, vs);
    this.products += vs.length;
    this.run.onProgress?.({ done: this.products, total: this.total, label: this.label });
    return out;
  }

  /**
   * The products with `count` vectors made on demand, `blockSize` per operator call, handing each
   * (vector, product, index) to `each` in order. Resolves false if the caller aborted first.
   */
  async applyInBlocks(count: number, blockSize: number, make: (i: number) => Float32Array, each: (v: Float32Array, av: Float32Array, i: number) => void): Promise<boolean> {
    for (let start = 0; start < count; start += blockSize) {
      if (this.stopRequested) return false;
      const vs = Array.from({ length: Math.min(blockSize, count - start) }, (_, j) => make(start + j));
      const avs = await this.apply(vs);
      avs.forEach((av, j) => each(vs[j]!, av, start + j));
    }
    return true;
  }

  async applyOne(v: Float32Array): Promise<Float32Array> {
    return (await this.apply([v]))[0]!;
  }

  record<O>(method: string, options: O): RunRecord<O> {
    return { method, options, products: this.products, wallTimeMs: performance.now() - this.started, aborted: this.abortedFlag };
  }
}

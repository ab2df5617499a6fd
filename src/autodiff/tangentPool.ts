/**
 * Memory for tangents and primal values. A replay allocates and frees hundreds of large arrays in
 * the same sizes every time, and so does every forward and backward pass; fresh allocations of
 * that size come from the operating system, are zeroed and page-faulted on first touch, and count
 * as external memory that makes V8 collect garbage every few milliseconds (on a VM all of that
 * costs more than the arithmetic). The pool keeps released arrays by length and hands them out
 * again, dirty: a rule that takes a buffer from `tangentBuffer` or `valueBuffer` must overwrite
 * all of it (`tangentZeros` / `valueZeros` when it accumulates).
 *
 * Tangents are counted by reference, because a jvp rule may return one of its inputs (a reshape
 * shares its data): a buffer goes back to the pool only when no tangent holds it. Primal values
 * belong to the pass that made them (`withValuePool`): they go back when it ends, all but those
 * the pass hands out.
 */
class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly refs = new Map<ArrayBufferLike, number>();
  private readonly pooled = new WeakSet<ArrayBufferLike>();
  private readonly isFree = new WeakSet<ArrayBufferLike>();
  private freeBytes = 0;
  private usedBytes = 0;
  private peakUsedBytes = 0;

  constructor(private readonly minKeepBytes: number) {}

  alloc(n: number): Float32Array {
    const list = this.free.get(n);
    const reused = list?.pop();
    let a: Float32Array;
    if (reused) {
      this.freeBytes -= reused.byteLength;
      this.isFree.delete(reused.buffer);
      a = reused;
    } else {
      a = new Float32Array(n);
      this.pooled.add(a.buffer);
    }
    this.usedBytes += a.byteLength;
    this.peakUsedBytes = Math.max(this.peakUsedBytes, this.usedBytes);
    return a;
  }

  retain(a: Float32Array): void {
    if (this.pooled.has(a.buffer)) this.refs.set(a.buffer, (this.refs.get(a.buffer) ?? 0) + 1);
  }

  release(a: Float32Array): void {
    if (!this.pooled.has(a.buffer)) return;
    const left = (this.refs.get(a.buffer) ?? 1) - 1;
    if (left > 0) {
      this.refs.set(a.buffer, left);
      return;
    }
    this.refs.delete(a.buffer);
    this.recycle(a.buffer);
  }

  /** The whole buffer back to the free lists (once: a second recycle of the same buffer is ignored). */
  recycle(buffer: ArrayBufferLike): void {
    if (!this.pooled.has(buffer) || this.isFree.has(buffer)) return;
    const whole = new Float32Array(buffer);
    this.usedBytes -= whole.byteLength;
    this.isFree.add(buffer);
    const list = this.free.get(whole.length) ?? [];
    list.push(whole);
    this.free.set(whole.length, list);
    this.freeBytes += whole.byteLength;
  }

  /**
   * Between passes, keeps as much free memory as the busiest pass since the last trim used (so an
   * identical pass finds all its buffers) and at least the configured minimum; lets the rest go.
   */
  trim(): void {
    const keep = Math.max(this.minKeepBytes, this.peakUsedBytes);
    this.peakUsedBytes = this.usedBytes;
    if (this.freeBytes <= keep) return;
    for (const [n, list] of this.free) {
      while (list.length > 0 && this.freeBytes > keep) {
        const a = list.pop()!;
        this.isFree.delete(a.buffer);
        this.pooled.delete(a.buffer);
        this.freeBytes -= a.byteLength;
      }
      if (list.length === 0) this.free.delete(n);
    }
  }
}

/** One pool per thread: passes are synchronous, so they never interleave. */
const pool = new BufferPool(Number(process.env.HESSE_TANGENT_POOL_MB ?? 2048) * 2 ** 20);
let tangentScopes = 0;
/** Buffers taken by the value scopes in progress, innermost last. */
const valueScopes: Float32Array[][] = [];

/** Runs `f` with tangent buffers taken from the pool. */
export function withTangentPool<T>(f: () => T): T {
  tangentScopes++;
  try {
    return f();
  } finally {
    tangentScopes--;
    if (tangentScopes === 0 && valueScopes.length === 0) pool.trim();
  }
}

/** A tangent buffer of n floats with undefined contents (the caller overwrites all of it). */
export function tangentBuffer(n: number): Float32Array {
  return tangentScopes > 0 ? pool.alloc(n) : new Float32Array(n);
}

/** A tangent buffer of n zeros (for rules that accumulate into their output). */
export function tangentZeros(n: number): Float32Array {
  return tangentScopes > 0 ? pool.alloc(n).fill(0) : new Float32Array(n);
}

/** A tangent is now held (by the replay's table of tangents). */
export function retainTangent(a: Float32Array): void {
  if (tangentScopes > 0) pool.retain(a);
}

/** A tangent or scratch buffer is no longer needed; its memory may be reused. */
export function releaseTangent(a: Float32Array): void {
  if (tangentScopes > 0) pool.release(a);
}

/**
 * Runs a pass `f` whose primal values come from the pool. When it returns, every value it
 * allocated goes back, except the buffers of `kept(result)`: whatever the pass hands out (or
 * keeps, like a recorded tape) must be listed there, since the pool hands the others out again.
 */
export function withValuePool<T>(f: () => T, kept: (result: T) => Iterable<Float32Array>): T {
  const taken: Float32Array[] = [];
  valueScopes.push(taken);
  let result: T;
  try {
    result = f();
  } catch (err) {
    valueScopes.pop();
    for (const a of taken) pool.recycle(a.buffer);
    throw err;
  }
  valueScopes.pop();
  const keep = new Set<ArrayBufferLike>();
  for (const a of kept(result)) keep.add(a.buffer);
  for (const a of taken) if (!keep.has(a.buffer)) pool.recycle(a.buffer);
  if (valueScopes.length === 0 && tangentScopes === 0) pool.trim();
  return result;
}

/** A buffer for a primal value of n floats: dirty inside a value pass (the caller overwrites it all), zeros outside. */
export function valueBuffer(n: number): Float32Array {
  const scope = valueScopes[valueScopes.length - 1];
  if (!scope || n === 0) return new Float32Array(n);
  const a = pool.alloc(n);
  scope.push(a);
  return a;
}

/** A buffer of n zeros for a primal value (for ops that accumulate into their output). */
export function valueZeros(n: number): Float32Array {
  return valueScopes.length > 0 ? valueBuffer(n).fill(0) : new Float32Array(n);
}

/**
 * Gives buffers that a value pass kept (a recorded tape's values) back to the pool, once their
 * owner is done with them; buffers that did not come from the pool are ignored.
 */
export function recycleValues(buffers: Iterable<Float32Array>): void {
  for (const a of buffers) pool.recycle(a.buffer);
}

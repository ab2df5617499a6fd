/**
 * Memory for tangents during a replay. A replay allocates and frees hundreds of large arrays in
 * the same sizes every time; fresh allocations of that size come from the operating system, are
 * zeroed and page-faulted on first touch (on a VM that costs more than the arithmetic). The pool
 * keeps released arrays by length and hands them out again, dirty: a jvp rule that takes a
 * buffer from `tangentBuffer` must overwrite all of it (`tangentZeros` when it accumulates).
 *
 * Arrays are counted by reference, because a jvp rule may return one of its inputs (a reshape
 * shares its data): a buffer goes back to the pool only when no tangent holds it.
 */
class TangentPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly refs = new Map<ArrayBufferLike, number>();
  private readonly pooled = new WeakSet<ArrayBufferLike>();
  private freeBytes = 0;

  constructor(private readonly maxFreeBytes: number) {}

  alloc(n: number): Float32Array {
    const list = this.free.get(n);
    const reused = list?.pop();
    if (reused) {
      this.freeBytes -= reused.byteLength;
      return reused;
    }
    const a = new Float32Array(n);
    this.pooled.add(a.buffer);
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
    if (this.freeBytes + a.buffer.byteLength > this.maxFreeBytes) return;
    const whole = new Float32Array(a.buffer);
    const list = this.free.get(whole.length) ?? [];
    list.push(whole);
    this.free.set(whole.length, list);
    this.freeBytes += whole.byteLength;
  }
}

/** One pool per thread: replays are synchronous, so they never interleave. */
const pool = new TangentPool(Number(process.env.HESSE_TANGENT_POOL_MB ?? 2048) * 2 ** 20);
let active = 0;

/** Runs `f` with tangent buffers taken from the pool. */
export function withTangentPool<T>(f: () => T): T {
  active++;
  try {
    return f();
  } finally {
    active--;
  }
}

/** A tangent buffer of n floats with undefined contents (the caller overwrites all of it). */
export function tangentBuffer(n: number): Float32Array {
  return active > 0 ? pool.alloc(n) : new Float32Array(n);
}

/** A tangent buffer of n zeros (for rules that accumulate into their output). */
export function tangentZeros(n: number): Float32Array {
  return active > 0 ? pool.alloc(n).fill(0) : new Float32Array(n);
}

/** A tangent is now held (by the replay's table of tangents). */
export function retainTangent(a: Float32Array): void {
  if (active > 0) pool.retain(a);
}

/** A tangent or scratch buffer is no longer needed; its memory may be reused. */
export function releaseTangent(a: Float32Array): void {
  if (active > 0) pool.release(a);
}

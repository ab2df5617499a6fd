import { HesseError, NonFiniteError, ShapeError } from '../errors.js';
import { sizeOf, Tensor, type Shape } from '../tensor/index.js';
import { backward } from './backward.js';
import { parameter, recordOn, Tape, type Node } from './node.js';
import { replayTangents } from './replay.js';
import { recycleValues, releaseTangent, withTangentPool, withValuePool } from './tangentPool.js';

/** What a differentiable objective returns: the scalar loss and, optionally, the model outputs (for the GGN). */
export interface Objective {
  loss: Node;
  outputs?: Node;
}

/** Builds the loss from parameter nodes (one per shape, views into the flat vector). */
export type ObjectiveFn = (params: Node[]) => Node | Objective;

interface Layout {
  shapes: Shape[];
  offsets: number[];
  size: number;
}

function layoutOf(theta: Float32Array, shapes: readonly Shape[]): Layout {
  const offsets: number[] = [];
  let size = 0;
  for (const s of shapes) {
    offsets.push(size);
    size += sizeOf(s);
  }
  if (size !== theta.length) {
    throw new ShapeError(`the parameter vector has ${theta.length} values but the parameter shapes need ${size}`);
  }
  return { shapes: [...shapes], offsets, size };
}

function parameterNodes(theta: Float32Array, layout: Layout): Node[] {
  return layout.shapes.map((s, i) => {
    const off = layout.offsets[i]!;
    return parameter(new Tensor(s, theta.subarray(off, off + sizeOf(s))));
  });
}

function checkedLoss(loss: Node): number {
  if (loss.value.size !== 1) throw new ShapeError(`the objective must be a scalar, got shape [${loss.shape.join(', ')}]`);
  const value = loss.value.data[0]!;
  if (!Number.isFinite(value)) {
    throw new NonFiniteError(`the loss is ${value} (not finite): the weights or inputs hold NaN/inf, or the model diverged`);
  }
  return value;
}

function asObjective(r: Node | Objective): Objective {
  return 'loss' in r ? r : { loss: r };
}

function gather(grads: readonly (Node | null)[], layout: Layout): Float32Array {
  const out = new Float32Array(layout.size);
  grads.forEach((g, i) => {
    if (g) out.set(g.value.data, layout.offsets[i]!);
  });
  return out;
}

/**
 * The loss and its gradient with respect to the flat parameter vector `theta` (one reverse pass).
 * Every intermediate value goes back to the buffer pool when it returns; the outputs stay.
 */
export function valueAndGrad(theta: Float32Array, shapes: readonly Shape[], f: ObjectiveFn): { loss: number; gradient: Float32Array; outputs?: Tensor } {
  const layout = layoutOf(theta, shapes);
  return withValuePool(
    () => {
      const tape = new Tape();
      const params = parameterNodes(theta, layout);
      const objective = asObjective(recordOn(tape, () => f(params)));
      const loss = checkedLoss(objective.loss);
      const { grads } = backward(tape, objective.loss, params, { record: false });
      const result: { loss: number; gradient: Float32Array; outputs?: Tensor } = { loss, gradient: gather(grads, layout) };
      if (objective.outputs) result.outputs = objective.outputs.value;
      return result;
    },
    (r) => (r.outputs ? [r.outputs.data] : []),
  );
}

/** Every value a replay of these nodes reads: theirs and their inputs', all the way down. */
function valuesReachable(nodes: readonly Node[]): Float32Array[] {
  const seen = new Set<Node>();
  const stack = [...nodes];
  const out: Float32Array[] = [];
  while (stack.length > 0) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    out.push(n.value.data);
    for (const i of n.inputs) if (!seen.has(i)) stack.push(i);
  }
  return out;
}

/** The nodes whose values a replay of `nodes` reads: what each rule declares, else the node and all its inputs. */
function valuesRead(nodes: readonly Node[]): Set<Node> {
  const read = new Set<Node>();
  for (const n of nodes) {
    if (!n.op) continue;
    for (const r of n.op.jvpReads ? n.op.jvpReads(n) : [n, ...n.inputs]) read.add(r);
  }
  return read;
}

/**
 * What a value no rule reads is replaced by: NaNs of the same shape (views of one shared array),
 * so a rule that read one after all would make the product NaN and be refused, not silently off.
 */
let unread = new Float32Array(0);
const unreadBuffers = new WeakSet<ArrayBufferLike>();
function unreadValue(shape: readonly number[], n: number): Tensor {
  if (unread.length < n) {
    unread = new Float32Array(Math.max(n, 2 * unread.length)).fill(NaN);
    unreadBuffers.add(unread.buffer);
  }
  return new Tensor(shape, unread.subarray(0, n));
}

/** Gives a collected context's primal values back to the pool (a context not disposed of explicitly). */
const contextValues = new FinalizationRegistry<Float32Array[]>((buffers) => recycleValues(buffers));

/**
 * The loss, gradient and exact curvature products at `theta` for one fixed input. The primal
 * forward and backward passes run once here; each product afterwards replays only tangents.
 */
export class SecondOrderContext {
  readonly loss: number;
  readonly gradient: Float32Array;
  readonly outputs: Tensor | undefined;
  private readonly layout: Layout;
  private readonly tape: Tape;
  private readonly params: Node[];
  private readonly grads: (Node | null)[];
  private forwardCount = 0;
  private readonly lossPartEnd: number;
  private readonly watched: Node | null;
  /** the pooled primal values this context holds (its outputs excepted: those are handed out) */
  private values: Float32Array[] | null;

  constructor(theta: Float32Array, shapes: readonly Shape[], f: ObjectiveFn) {
    this.layout = layoutOf(theta, shapes);
    this.tape = new Tape();
    this.params = parameterNodes(theta, this.layout);
    let objective: Objective | undefined;
    let result: ReturnType<typeof backward> | undefined;
    // the recorded values stay with the context; what the passes made on the way goes back to the pool
    const kept = withValuePool(
      () => {
        objective = asObjective(recordOn(this.tape, () => f(this.params)));
        checkedLoss(objective.loss);
        this.forwardCount = this.tape.nodes.length;
        const watch = objective.outputs?.requiresGrad ? objective.outputs : undefined;
        result = backward(this.tape, objective.loss, this.params, watch ? { record: true, watch } : { record: true });
        return valuesReachable([...this.tape.nodes, objective.loss, ...(objective.outputs ? [objective.outputs] : [])]);
      },
      (values) => values,
    );
    this.loss = checkedLoss(objective!.loss);
    this.outputs = objective!.outputs?.value;
    this.grads = result!.grads;
    this.watched = result!.watched;
    this.lossPartEnd = result!.lossPartEnd;
    this.gradient = gather(this.grads, this.layout);
    // the replays read only some of the recorded values (a convolution's input, not its output):
    // the others go back to the pool now, which takes the cached primal pass down by about 40%
    const read = valuesRead(this.tape.nodes);
    const keep = new Set<ArrayBufferLike>();
    for (const n of read) keep.add(n.value.data.buffer);
    for (const n of [objective!.loss, ...(objective!.outputs ? [objective!.outputs] : []), ...this.params]) keep.add(n.value.data.buffer);
    const dropped = new Set<ArrayBufferLike>();
    for (const n of this.tape.nodes) {
      const buffer = n.value.data.buffer;
      if (keep.has(buffer) || unreadBuffers.has(buffer)) continue;
      dropped.add(buffer);
      n.value = unreadValue(n.value.shape, n.value.size);
    }
    recycleValues(kept.filter((a) => dropped.has(a.buffer)));
    const handedOut = this.outputs?.data.buffer;
    this.values = kept.filter((a) => a.buffer !== handedOut && !dropped.has(a.buffer));
    contextValues.register(this, this.values, this);
  }

  /**
   * Gives the recorded primal values back to the buffer pool now, rather than when the garbage
   * collector finds the context; the context cannot compute products afterwards.
   */
  dispose(): void {
    if (!this.values) return;
    contextValues.unregister(this);
    recycleValues(this.values);
    this.values = null;
  }

  private checkLive(): void {
    if (!this.values) throw new HesseError('this curvature context was disposed of: build a new one (secondOrder) for more products');
  }

  get size(): number {
    return this.layout.size;
  }

  /** Bytes held by the cached primal values of the recorded passes (what keeping this context costs). */
  get primalBytes(): number {
    const buffers = new Set<ArrayBufferLike>();
    for (const node of this.tape.nodes) if (!unreadBuffers.has(node.value.data.buffer)) buffers.add(node.value.data.buffer);
    let n = 0;
    for (const b of buffers) n += b.byteLength;
    return n;
  }

  /** H·v. */
  hvp(v: Float32Array): Float32Array {
    return this.hvpBlock([v])[0]!;
  }

  /** H·[v1..vk] in one replay: the k tangents ride the same pass. */
  hvpBlock(vs: readonly Float32Array[]): Float32Array[] {
    const k = vs.length;
    if (k === 0) return [];
    this.checkLive();
    const seeds = this.seedParameters(vs);
    const keep = this.grads.filter((g): g is Node => g !== null);
    return withTangentPool(() => {
      const tangents = replayTangents(this.tape.nodes, seeds, k, keep);
      return this.scatterAndRelease(tangents, k, 'Hessian-vector product');
    });
  }

  /**
   * Generalised Gauss-Newton products Jᵀ H_L J·[v1..vk], where J is the Jacobian of the outputs
   * with respect to the parameters and H_L the Hessian of the loss with respect to the outputs:
   * a forward tangent gives J v, the loss part of the recorded backward pass turns it into H_L J v,
   * and the network part of the backward pass, with the forward values held fixed, applies Jᵀ.
   */
  ggnBlock(vs: readonly Float32Array[]): Float32Array[] {
    const k = vs.length;
    if (k === 0) return [];
    this.checkLive();
    if (!this.watched) throw new ShapeError('the GGN needs the objective to return its outputs ({ loss, outputs }) and the outputs to depend on the parameters');
    const watched = this.watched;
    const nodes = this.tape.nodes;
    return withTangentPool(() => {
      const lossPart = replayTangents(nodes.slice(0, this.lossPartEnd), this.seedParameters(vs), k, [watched]);
      const hlJv = lossPart.get(watched);
      for (const [node, t] of lossPart) if (node !== watched) releaseTangent(t.data);
      const keep = this.grads.filter((g): g is Node => g !== null);
      const tangents = hlJv ? replayTangents(nodes.slice(this.lossPartEnd), new Map([[watched, hlJv]]), k, keep) : new Map<Node, Tensor>();
      if (hlJv) releaseTangent(hlJv.data);
      return this.scatterAndRelease(tangents, k, 'GGN-vector product');
    });
  }

  private seedParameters(vs: readonly Float32Array[]): Map<Node, Tensor> {
    const k = vs.length;
    for (const v of vs) {
      if (v.length !== this.layout.size) throw new ShapeError(`a direction has ${v.length} values but the model has ${this.layout.size} parameters`);
    }
    const seeds = new Map<Node, Tensor>();
    this.params.forEach((p, i) => {
      const off = this.layout.offsets[i]!;
      const n = p.value.size;
      const data = new Float32Array(k * n);
      for (let j = 0; j < k; j++) data.set(vs[j]!.subarray(off, off + n), j * n);
      seeds.set(p, new Tensor([k, ...p.shape], data));
    });
    return seeds;
  }

  /** Copies the gradient nodes' tangents into k flat vectors and returns every remaining tangent to the pool. */
  private scatterAndRelease(tangents: Map<Node, Tensor>, k: number, what: string): Float32Array[] {
    const out = this.scatter(this.grads.map((g) => (g ? tangents.get(g) : undefined)), k, what);
    for (const t of tangents.values()) releaseTangent(t.data);
    return out;
  }

  private scatter(parts: readonly (Tensor | undefined)[], k: number, what: string): Float32Array[] {
    const out = Array.from({ length: k }, () => new Float32Array(this.layout.size));
    parts.forEach((t, i) => {
      if (!t) return;
      const off = this.layout.offsets[i]!;
      const n = t.size / k;
      for (let j = 0; j < k; j++) out[j]!.set(t.data.subarray(j * n, (j + 1) * n), off);
    });
    for (const o of out) {
      for (let i = 0; i < o.length; i++) {
        if (!Number.isFinite(o[i]!)) throw new NonFiniteError(`the ${what} holds ${o[i]} (not finite) at parameter index ${i}`);
      }
    }
    return out;
  }
}

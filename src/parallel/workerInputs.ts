/**
 * What a worker's jobs read from Redis, each downloaded once: the model (checked against the
 * sha256 the job names, and loaded into every thread), weights by their sha256, and the vectors
 * of the current product (the shards of one product that land on this worker share them).
 * Values that are there but wrong raise JobRejectedError (the job is refused, not retried); keys
 * that are gone raise ClusterError (the run has ended).
 */
import type { Redis } from 'ioredis';
import type { RunKeys } from './runKeys.js';
import { ClusterError, JobRejectedError } from './errors.js';
import { decodeModelBlob, sha256Hex } from './modelBlob.js';
import type { ThreadPool } from './threadPool.js';
import { readBinary } from './vectorStore.js';

export interface LoadedModel {
  size: number;
  /** the blob's own weights, for jobs without a weights hash */
  theta: SharedArrayBuffer;
}

function toShared(bytes: Uint8Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(sab).set(bytes);
  return sab;
}

/** A download, and whether this call made it (for the bytes a job reports). */
export interface Fetched<T> {
  value: T;
  fetched: boolean;
}

export class WorkerInputs {
  private readonly models = new Map<string, Promise<LoadedModel>>();
  private readonly thetas = new Map<string, SharedArrayBuffer>();
  private lastVectors: { key: string; data: Promise<SharedArrayBuffer> } | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RunKeys,
    private readonly pool: ThreadPool,
  ) {}

  /** The model named by `hash`; concurrent jobs share one download and one load. */
  async model(hash: string): Promise<Fetched<LoadedModel>> {
    let p = this.models.get(hash);
    const fetched = !p || !this.pool.hasModel(hash);
    if (fetched) {
      p = this.loadModel(hash);
      this.models.set(hash, p);
      p.catch(() => this.models.delete(hash));
      while (this.models.size > 2) this.models.delete(this.models.keys().next().value!);
    }
    return { value: await p!, fetched };
  }

  private async loadModel(hash: string): Promise<LoadedModel> {
    const bytes = await readBinary(this.redis, this.keys.model(hash), 'the model');
    try {
      // decodeModelBlob checks the sha256: a worker never runs a model other than the one named
      const model = decodeModelBlob(bytes, `model ${hash.slice(0, 12)}…`, hash);
      await this.pool.loadModel(hash, bytes);
      return { size: model.size, theta: toShared(new Uint8Array(model.theta.buffer, model.theta.byteOffset, model.theta.byteLength)) };
    } catch (e) {
      throw e instanceof ClusterError ? e : new JobRejectedError((e as Error).message);
    }
  }

  /** Weights named by their sha256, n float32 values. */
  async theta(hash: string, n: number): Promise<Fetched<SharedArrayBuffer>> {
    const known = this.thetas.get(hash);
    if (known) return { value: known, fetched: false };
    const bytes = await readBinary(this.redis, this.keys.theta(hash), 'the weights');
    if (bytes.byteLength !== n * 4) throw new JobRejectedError(`the weights hold ${bytes.byteLength} bytes, not ${n} float32 values`);
    if (sha256Hex(bytes) !== hash) throw new JobRejectedError(`the weights stored under ${hash.slice(0, 12)}… do not have that sha256`);
    const t = toShared(bytes);
    this.thetas.set(hash, t);
    while (this.thetas.size > 3) this.thetas.delete(this.thetas.keys().next().value!);
    return { value: t, fetched: true };
  }

  /** The k vectors of n values stored under `key`. */
  async vectors(key: string, k: number, n: number): Promise<Fetched<SharedArrayBuffer>> {
    const last = this.lastVectors;
    let data = last && last.key === key ? last.data : undefined;
    const fetched = !data;
    if (!data) {
      data = readBinary(this.redis, key, 'the vectors').then(toShared);
      data.catch(() => undefined);
      this.lastVectors = { key, data };
    }
    const v = await data;
    if (v.byteLength !== k * n * 4) throw new JobRejectedError(`the vectors hold ${v.byteLength} bytes, not ${k}×${n} float32 values`);
    return { value: v, fetched };
  }

  /** Drops what belongs to the run being left (models stay: the next run may use the same). */
  forgetRun(): void {
    this.thetas.clear();
    this.lastVectors = undefined;
  }
}

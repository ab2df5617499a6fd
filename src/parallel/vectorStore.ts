/**
 * What a coordinator puts into Redis besides its jobs, all binary and all with the run's TTL: the
 * model once per run, named by its sha256; weights once per distinct value, named by their sha256;
 * the vectors of a product once, in one key that every shard job names; and the shards' partial
 * sums, read back once each and deleted.
 */
import type { Redis } from 'ioredis';
import type { RunKeys } from './runKeys.js';
import { ClusterError } from './errors.js';
import { sha256Hex, type ModelBlob } from './modelBlob.js';

function asBuffer(a: Uint8Array | Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export class VectorStore {
  /** bytes written to and read from Redis */
  bytesSent = 0;
  bytesReceived = 0;
  /** the hash of the weights stored for the products (null: the model blob's own) */
  private currentTheta: string | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RunKeys,
    private readonly runId: string,
    private readonly ttlMs: number,
  ) {}

  get thetaHash(): string | null {
    return this.currentTheta;
  }

  async putModel(blob: ModelBlob): Promise<void> {
    await this.redis.set(this.keys.model(blob.hash), asBuffer(blob.bytes), 'PX', this.ttlMs);
    this.bytesSent += blob.bytes.byteLength;
  }

  /** Stores weights under their sha256, unless they are the ones stored already; returns the hash. */
  async putTheta(theta: Float32Array): Promise<string> {
    const bytes = asBuffer(theta);
    const hash = sha256Hex(bytes);
    if (hash !== this.currentTheta) {
      await this.redis.set(this.keys.theta(hash), bytes, 'PX', this.ttlMs);
      this.bytesSent += bytes.byteLength;
    }
    return hash;
  }

  /** The weights for the following products: stored once, the previous ones dropped. */
  async useTheta(theta: Float32Array): Promise<void> {
    const hash = await this.putTheta(theta);
    if (this.currentTheta && this.currentTheta !== hash) await this.redis.del(this.keys.theta(this.currentTheta));
    this.currentTheta = hash;
  }

  /** Drops weights stored for one evaluation (never the ones the products use). */
  async dropTheta(hash: string): Promise<void> {
    if (hash !== this.currentTheta) await this.redis.del(this.keys.theta(hash));
  }

  /** The k vectors of product `seq`, back to back in one key; returns the key. */
  async putVectors(seq: number, vs: readonly Float32Array[], n: number): Promise<string> {
    const key = this.keys.vectors(this.runId, seq);
    const packed = Buffer.allocUnsafe(vs.length * n * 4);
    const view = new Float32Array(packed.buffer, packed.byteOffset, vs.length * n);
    vs.forEach((v, j) => view.set(v, j * n));
    await this.redis.set(key, packed, 'PX', this.ttlMs);
    this.bytesSent += packed.byteLength;
    return key;
  }

  /** Reads the shards' partial sums (k vectors of n float64 each, as the workers summed them) and deletes them. */
  async takeResults(resultKeys: readonly string[], k: number, n: number, where: (s: number) => string): Promise<Float64Array[]> {
    const parts = await Promise.all(
      resultKeys.map(async (key, s) => {
        const raw = await this.redis.getBuffer(key);
        if (!raw || raw.byteLength !== k * n * 8) throw new ClusterError(`the result of ${where(s)} is missing or has the wrong size`);
        this.bytesReceived += raw.byteLength;
        // a copy into aligned memory: a Buffer may start at any byte
        const out = new Float64Array(k * n);
        new Uint8Array(out.buffer).set(raw);
        return out;
      }),
    );
    if (resultKeys.length) await this.redis.del(...resultKeys);
    return parts;
  }

  /** Removes what product `seq` left: its vectors and any result a failed product did not collect. */
  async dropProduct(seq: number, shards: number): Promise<void> {
    await this.redis.del(this.keys.vectors(this.runId, seq), ...Array.from({ length: shards }, (_, s) => this.keys.result(this.runId, seq, s)));
  }
}

/** A binary value a job names, or an error saying the run's keys are gone. */
export async function readBinary(redis: Redis, key: string, what: string): Promise<Buffer> {
  const v = await redis.getBuffer(key);
  if (!v) throw new ClusterError(`${what} (${key}) is not in Redis: the run has ended or its keys expired`);
  return v;
}

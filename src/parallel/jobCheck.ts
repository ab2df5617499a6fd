/** Whether a job a worker took is one it may run: of its run, well formed, within its limits. */
import { PROTOCOL_VERSION, type JobLimits, type ShardJob } from './clusterProtocol.js';
import type { RunKeys } from './runKeys.js';

const HASH = /^[0-9a-f]{64}$/;

function isInt(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

function checkSpec(spec: unknown, limits: JobLimits): string | null {
  if (!spec || typeof spec !== 'object') return 'the dataset spec is missing';
  const s = spec as Record<string, unknown>;
  if (s.range !== undefined) {
    const r = s.range;
    if (!Array.isArray(r) || r.length !== 2 || !isInt(r[0], 0, 2 ** 40) || !isInt(r[1], 0, 2 ** 40) || r[0] > r[1]) return 'the dataset range is not [start, end]';
  }
  switch (s.kind) {
    case 'synthetic':
      if (!isInt(s.n, 1, limits.maxSyntheticSamples)) return `a synthetic set of ${String(s.n)} samples is outside 1..${limits.maxSyntheticSamples}`;
      if (!isInt(s.classes, 2, 256)) return 'the synthetic set has a bad number of classes';
      if (typeof s.seed !== 'number' || !Number.isFinite(s.seed)) return 'the synthetic seed is not a number';
      if (s.split !== 'train' && s.split !== 'test') return 'the synthetic split is not train or test';
      return null;
    case 'tensor':
    case 'tensors':
      return typeof s.path === 'string' && s.path.length > 0 && s.path.length < 4096 ? null : 'the dataset path is missing';
    case 'cifar10':
    case 'cifar100':
      if (typeof s.dir !== 'string' || s.dir.length === 0 || s.dir.length >= 4096) return 'the dataset directory is missing';
      if (s.split !== 'train' && s.split !== 'test') return 'the CIFAR split is not train or test';
      if (s.kind === 'cifar100' && s.labels !== 'fine' && s.labels !== 'coarse') return 'the CIFAR-100 labels are not fine or coarse';
      return null;
    default:
      return `unknown dataset kind '${String(s.kind)}'`;
  }
}

function checkNormalize(n: unknown): string | null {
  if (n === null) return null;
  if (!n || typeof n !== 'object') return 'the normalisation is malformed';
  const { mean, std } = n as { mean: unknown; std: unknown };
  const ok = (a: unknown, positive: boolean) =>
    Array.isArray(a) && a.length >= 1 && a.length <= 64 && a.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
  return ok(mean, false) && ok(std, true) ? null : 'the normalisation is malformed';
}

/**
 * Checks a job against the run the worker was admitted to and its limits. Returns the reason for
 * rejecting it, or null. Files are checked later, against the dataset roots.
 */
export function jobProblem(data: unknown, admittedRunId: string | null, keys: RunKeys, limits: JobLimits): string | null {
  if (!data || typeof data !== 'object') return 'the job carries no data';
  const j = data as Partial<ShardJob>;
  if (j.v !== PROTOCOL_VERSION) return `protocol version ${String(j.v)} is not ${PROTOCOL_VERSION} (coordinator and worker are different hesse versions)`;
  if (typeof j.runId !== 'string' || j.runId !== admittedRunId) {
    return `the job belongs to run id '${String(j.runId).slice(0, 64)}', but this worker was admitted to '${admittedRunId ?? 'none'}'`;
  }
  if (j.op !== 'product' && j.op !== 'loss') return `unknown operation '${String(j.op)}'`;
  if (!isInt(j.seq, 0, Number.MAX_SAFE_INTEGER) || !isInt(j.shardIndex, 0, 1e7)) return 'the job sequence or shard index is malformed';
  if (typeof j.modelHash !== 'string' || !HASH.test(j.modelHash)) return 'the model hash is malformed';
  if (j.thetaHash !== null && (typeof j.thetaHash !== 'string' || !HASH.test(j.thetaHash))) return 'the weights hash is malformed';
  if (!isInt(j.parameters, 1, limits.maxParameters)) return `a model of ${String(j.parameters)} parameters is outside this worker's limit of ${limits.maxParameters}`;
  if (j.kind !== 'hessian' && j.kind !== 'ggn') return 'the operator kind is not hessian or ggn';
  if (j.bnMode !== 'eval' && j.bnMode !== 'train') return 'the BN mode is not eval or train';
  if (j.loss !== 'cross-entropy' && j.loss !== 'mse') return 'the loss is not cross-entropy or mse';
  if (j.ignoreIndex !== undefined && !Number.isSafeInteger(j.ignoreIndex)) return 'the ignore index is not an integer';
  if (!isInt(j.batchSize, 1, limits.maxBatchSize)) return `batch size ${String(j.batchSize)} is outside 1..${limits.maxBatchSize}`;
  if (!isInt(j.maxBlock, 1, limits.maxBlockVectors)) return 'the block size is malformed';
  const sh = j.shard;
  if (!sh || !isInt(sh.start, 0, 2 ** 40) || !isInt(sh.end, 1, 2 ** 40) || sh.start >= sh.end) return 'the shard is not a range [start, end)';
  if (sh.end - sh.start > limits.maxShardSamples) return `a shard of ${sh.end - sh.start} samples is beyond this worker's limit of ${limits.maxShardSamples}`;
  if (!j.dataset || typeof j.dataset !== 'object') return 'the dataset is missing';
  const specProblem = checkSpec(j.dataset.spec, limits);
  if (specProblem) return specProblem;
  const normProblem = checkNormalize(j.dataset.normalize);
  if (normProblem) return normProblem;
  if (j.preferred !== undefined && (typeof j.preferred !== 'string' || j.preferred.length === 0 || j.preferred.length > 200)) return 'the preferred worker is malformed';
  if (j.preferMs !== undefined && !isInt(j.preferMs, 0, 600_000)) return 'the affinity wait is malformed';
  if (j.op === 'product') {
    if (!isInt(j.k, 1, limits.maxBlockVectors)) return `a block of ${String(j.k)} vectors is outside 1..${limits.maxBlockVectors}`;
    if (j.k * j.parameters * 4 > limits.maxVectorBytes) return `${j.k} vectors of ${j.parameters} parameters exceed this worker's limit of ${limits.maxVectorBytes} bytes`;
    if (typeof j.vectorKey !== 'string' || !keys.isVectorKey(j.vectorKey, j.runId)) return 'the vector key is not one of this run';
  }
  return null;
}

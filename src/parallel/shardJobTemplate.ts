/** The job each shard of a cluster run gets: everything a worker needs but the op, the weights and the vectors. */
import type { DatasetSpec } from '../data/index.js';
import type { ResolvedProblem } from '../curvature/index.js';
import { PROTOCOL_VERSION, type ShardJob } from './clusterProtocol.js';

export type JobTemplate = (s: number, op: ShardJob['op'], thetaHash: string | null, seq: number) => ShardJob;

export function jobTemplate(r: ResolvedProblem, runId: string, modelHash: string, parameters: number, spec: DatasetSpec): JobTemplate {
  return (s, op, thetaHash, seq) => ({
    v: PROTOCOL_VERSION,
    runId,
    op,
    seq,
    shardIndex: s,
    modelHash,
    thetaHash,
    parameters,
    dataset: { spec, normalize: r.normalize },
    shard: r.plan.shards[s]!,
    batchSize: r.plan.batchSize,
    bnMode: r.bnMode,
    loss: r.loss,
    ...(r.objective.ignoreIndex !== undefined ? { ignoreIndex: r.objective.ignoreIndex } : {}),
    kind: r.kind,
    maxBlock: r.maxBlock,
  });
}

/**
 * The coordinator side of a cluster run: one BullMQ job per shard per product. It is put together
 * from a connection to Redis that bounds how long an outage is waited out (RedisLink), the claim
 * on the run name with its heartbeat (RunOwnership), the binary values in Redis (VectorStore), the
 * jobs (JobDispatcher) and which worker each shard is meant for (ShardAffinity); ClusterRun
 * (clusterRun.ts) runs the products on them. Partial sums come back per shard and are added in
 * shard order, so the result does not depend on which worker finished first. At a clean close
 * nothing of the run is left in Redis; every key has a TTL, so a run whose coordinator died
 * expires by itself.
 */
import { randomUUID } from 'node:crypto';
import { resolveProblem, type ShardProblem } from '../curvature/index.js';
import { clusterSettings, type ClusterExecutor, type ClusterOptions } from './clusterOptions.js';
import { ClusterRun } from './clusterRun.js';
import { abandonRunParts } from './clusterRunParts.js';
import { abortedRun, NoWorkersError } from './errors.js';
import { JobDispatcher } from './jobDispatch.js';
import { encodeModelBlob } from './modelBlob.js';
import { RedisLink } from './redisLink.js';
import { parseRedisUrl } from './redisUrl.js';
import { RunKeys } from './runKeys.js';
import { RunOwnership } from './runOwnership.js';
import { expireRunKeys } from './runExpiry.js';
import { ShardAffinity } from './shardAffinity.js';
import { jobTemplate } from './shardJobTemplate.js';
import { requireSpec } from './threadExecutor.js';
import { VectorStore } from './vectorStore.js';

export async function clusterExecutor(problem: ShardProblem, opts: ClusterOptions): Promise<ClusterExecutor> {
  const r = resolveProblem(problem);
  const spec = opts.remoteSpec ?? requireSpec(problem, 'cluster workers');
  const s = clusterSettings(opts);
  const target = parseRedisUrl(opts.redisUrl);
  const keys = new RunKeys(opts.runName ?? 'hesse');
  if (opts.signal?.aborted) throw abortedRun(opts.signal);
  // the model's snapshot now, before the first await: weights changed in place while the run is set up do not leak in
  const blob = encodeModelBlob(problem.model);
  const link = await RedisLink.open(target, {
    name: 'hesse-coordinator',
    connectTimeoutMs: s.connectTimeoutMs,
    reconnectTimeoutMs: s.reconnectTimeoutMs,
    ...(opts.onEvent ? { onEvent: opts.onEvent } : {}),
  });
  const runId = randomUUID();
  let ownership: RunOwnership | undefined;
  let dispatch: JobDispatcher | undefined;
  try {
    ownership = await RunOwnership.claim(link, keys, runId, { heartbeatMs: s.heartbeatMs, ttlMs: s.runTtlMs });
    const store = new VectorStore(link.client, keys, runId, s.runTtlMs);
    await store.putModel(blob);
    const owned = ownership;
    dispatch = await JobDispatcher.open(link, keys, {
      attempts: s.attempts,
      workerTimeoutMs: s.workerTimeoutMs,
      lastWorkerAt: () => owned.lastWorkerAt,
      noWorkers: () =>
        new NoWorkersError(`no worker has served run '${keys.run}' on ${target.display} for ${Math.round(s.workerTimeoutMs / 1000)} s; start workers that serve run '${keys.run}' on that Redis server`, keys.run, target.display),
      // jobs just added have no TTL yet: should this process die now, they still expire
      afterAdd: async () => void (await expireRunKeys(link, keys, s.runTtlMs, 'renew').catch(() => undefined)),
    });
    const template = jobTemplate(r, runId, blob.hash, problem.model.size, spec);
    const run = new ClusterRun(r, runId, template, { link, ownership, store, dispatch, affinity: new ShardAffinity(r.plan.shards, s.affinityMs) }, opts);
    await ownership.publish();
    return run;
  } catch (e) {
    await abandonRunParts(link, ownership, dispatch);
    throw link.explain(e);
  }
}

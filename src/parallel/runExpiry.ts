import type { Redis } from 'ioredis';
import type { RunKeys } from './runKeys.js';
import type { RedisLink } from './redisLink.js';

/**
 * Every key of a run expires (so a run whose coordinator died leaves nothing for good): hesse
 * writes its own keys with a TTL, BullMQ writes its queue's without one, so whoever touches a run
 * gives them one. `renew` (the coordinator's heartbeat) sets the TTL of every key; `if-missing`
 * (a worker leaving a run) only of keys that have none, so a live run's TTLs stay its own. Keys
 * whose TTL is a signal (RunKeys.keepsOwnTtl: job locks, the stalled-check throttle, worker
 * heartbeats) are never touched. Returns the ids of the workers whose heartbeat keys were seen.
 */
export async function expireRunKeys(link: RedisLink, keys: RunKeys, ttlMs: number, mode: 'renew' | 'if-missing'): Promise<string[]> {
  const all = await link.keysMatching(keys.pattern);
  let targets = all.filter((k) => !keys.keepsOwnTtl(k));
  if (mode === 'if-missing' && targets.length > 0) {
    const ttls = await pipelined(link.client, targets, (p, k) => p.pttl(k));
    targets = targets.filter((_, i) => ttls[i] === -1);
  }
  if (targets.length > 0) await pipelined(link.client, targets, (p, k) => p.pexpire(k, ttlMs));
  return all.filter((k) => keys.isWorkerKey(k)).map((k) => keys.workerId(k));
}

async function pipelined(redis: Redis, keys: string[], add: (p: ReturnType<Redis['pipeline']>, key: string) => void): Promise<unknown[]> {
  const p = redis.pipeline();
  for (const k of keys) add(p, k);
  const replies = (await p.exec()) ?? [];
  return replies.map(([err, v]) => {
    if (err) throw err;
    return v;
  });
}

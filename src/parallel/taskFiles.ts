/**
 * A task's state as files kept in Redis beside its job: all of a task's files in one hash, written
 * in one HSET with its TTL, so a reader sees one consistent set.
 */
import type { RedisLink } from './redisLink.js';
import type { TaskKeys } from './taskKeys.js';

export type TaskFiles = Map<string, Buffer>;

export async function readFiles(link: RedisLink, keys: TaskKeys, id: string): Promise<TaskFiles> {
  const raw = await link.client.hgetallBuffer(keys.files(id));
  return new Map(Object.entries(raw));
}

export async function writeFiles(link: RedisLink, keys: TaskKeys, id: string, files: ReadonlyMap<string, Uint8Array>, ttlMs: number): Promise<void> {
  if (files.size === 0) return;
  const key = keys.files(id);
  const fields: (string | Buffer)[] = [];
  for (const [name, bytes] of files) fields.push(name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  await link.client.multi().hset(key, ...fields).pexpire(key, ttlMs).exec();
}

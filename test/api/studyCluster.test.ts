import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { study } from '../../src/api/study.js';
import type { StudyRunResult } from '../../src/report/index.js';
import { cliPath } from '../cli/run.js';

const REDIS = 'redis://127.0.0.1:6379';

const redisUp = await new Promise<boolean>((resolve) => {
  const s = connect(6379, '127.0.0.1');
  s.once('connect', () => {
    s.destroy();
    resolve(true);
  });
  s.once('error', () => resolve(false));
});
const skip = !redisUp && process.env.HESSE_REQUIRE_REDIS !== '1';
if (skip) console.warn('study cluster test skipped: no Redis on 127.0.0.1:6379 (set HESSE_REQUIRE_REDIS=1 to fail instead)');

interface Worker {
  proc: ChildProcess;
  events: { type: string; task?: string; event?: { type: string; run: string; record?: { epoch: number } } }[];
  exited: Promise<number | null>;
}

function startWorker(run: string, id: string, scratch: string, onEvent: (w: Worker, e: Worker['events'][number]) => void): Worker {
  const proc = spawn(process.execPath, [cliPath, '--json', 'study-worker', '--redis', REDIS, '--run', run, '--id', id, '--scratch', scratch, '--lock-ms', '1500', '--stalled-ms', '500'], {
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const w: Worker = { proc, events: [], exited: new Promise((resolve) => proc.once('exit', (code) => resolve(code))) };
  let buffered = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buffered += d.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      const e = JSON.parse(line) as Worker['events'][number];
      w.events.push(e);
      onEvent(w, e);
    }
  });
  return w;
}

const numbers = (r: StudyRunResult) => ({ id: r.id, epochs: r.epochs.map(({ seconds: _s, ...e }) => e), checkpoints: r.checkpoints.map(({ ms: _m, ...c }) => c) });

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'hesse-study-cluster-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe.skipIf(skip)('a study on the cluster', () => {
  it('two workers, one killed in the middle of a run: the run goes on on the other from its last checkpoint, with the numbers of a local study', async () => {
    const run = `study-test-${process.pid}-${Date.now()}`;
    const grid = { preset: 'smoke', depths: [8], variants: ['grid'] };
    let victim: string | undefined;
    const onEvent = (w: Worker, e: Worker['events'][number]) => {
      // the first worker to finish a checkpoint of a run dies right there, before the run's end
      if (victim === undefined && e.type === 'run' && e.event?.type === 'checkpoint' && e.event.record?.epoch === 2) {
        victim = e.event.run;
        w.proc.kill('SIGKILL');
      }
    };
    const a = startWorker(run, 'worker-a', join(root, 'scratch-a'), onEvent);
    const b = startWorker(run, 'worker-b', join(root, 'scratch-b'), onEvent);
    const redis = new Redis(REDIS, { lazyConnect: true });
    try {
      const out = await study({ ...grid, out: join(root, 'cluster'), report: false, cluster: { redisUrl: REDIS, runName: run, workerTimeoutMs: 30_000 } });
      expect(out.completed).toBe(true);
      expect(victim).toBeDefined();
      const killed = [a, b].find((w) => w.proc.signalCode === 'SIGKILL')!;
      const survivor = killed === a ? b : a;
      const runs = out.section!.runs;
      expect(runs.map((r) => r.status)).toEqual(['done', 'done', 'done', 'done']);
      const resumed = runs.find((r) => r.id === victim)!;
      const killedId = killed === a ? 'worker-a' : 'worker-b';
      const survivorId = killed === a ? 'worker-b' : 'worker-a';
      // started by the killed worker, continued by the other from the checkpoint after epoch 2 (or later), not from the start
      expect(resumed.sessions[0]).toMatchObject({ worker: killedId, from: { epoch: 0, step: 0 } });
      const last = resumed.sessions.at(-1)!;
      expect(last.worker).toBe(survivorId);
      expect(last.from.epoch).toBeGreaterThanOrEqual(2);
      expect(resumed.checkpoints.map((c) => c.epoch)).toEqual([2, 4]);
      expect(survivor.events.some((e) => e.type === 'started' && e.task === victim)).toBe(true);
      // the study folder holds every run's files, as a local study's would
      for (const r of runs) expect((await readdir(join(root, 'cluster', 'runs', r.id))).sort()).toEqual(['checkpoint.safetensors', 'curvature.safetensors', 'log.json', 'result.json']);
      expect(existsSync(join(root, 'scratch-b'))).toBe(true);

      const local = await study({ ...grid, out: join(root, 'local'), report: false });
      expect(runs.map(numbers)).toEqual(local.section!.runs.map(numbers));

      // nothing of the run's files is left in Redis
      await redis.connect();
      expect(await redis.keys(`hesse:${run}:tasks:files:*`)).toEqual([]);
    } finally {
      for (const w of [a, b]) if (w.proc.exitCode === null && w.proc.signalCode === null) w.proc.kill('SIGTERM');
      await Promise.all([a.exited, b.exited]);
      await redis.connect().catch(() => undefined);
      const left = await redis.keys(`hesse:${run}:*`);
      if (left.length > 0) await redis.del(...left);
      redis.disconnect();
    }
  });
});

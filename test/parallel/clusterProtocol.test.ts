import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { hesse } from '../cli/run.js';
import {
  DEFAULT_LIMITS,
  jobProblem,
  parseRedisUrl,
  PROTOCOL_VERSION,
  realRoots,
  redactCredentials,
  resolveRedisUrl,
  resolveInRoots,
  RunKeys,
  specWithinRoots,
  ShardAffinity,
  type ShardJob,
  type ShardJobResult,
} from '../../src/parallel/index.js';

describe('Redis URLs', () => {
  it('reads host, port, database, TLS and credentials', () => {
    const t = parseRedisUrl('rediss://alice:p%40ss:w0rd@cache.example:6380/3');
    expect(t).toMatchObject({ host: 'cache.example', port: 6380, db: 3, tls: true, username: 'alice', password: 'p@ss:w0rd' });
    expect(t.display).toBe('rediss://alice:***@cache.example:6380/3');
    expect(parseRedisUrl('redis://127.0.0.1')).toMatchObject({ host: '127.0.0.1', port: 6379, db: 0, tls: false });
    expect(parseRedisUrl('redis://[::1]:7000').host).toBe('::1');
  });

  it('rejects other schemes and bad databases without echoing the password', () => {
    for (const bad of ['http://u:hunter2@h:1', 'redis://u:hunter2@h:1/x', 'not a url hunter2@']) {
      let message = '';
      try {
        parseRedisUrl(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(OptionError);
        message = (e as Error).message;
      }
      expect(message).not.toBe('');
      if (bad.startsWith('redis')) expect(message).not.toContain('hunter2');
    }
  });

  it('takes the URL given, else HESSE_REDIS_URL, else says where to give one', () => {
    const saved = process.env.HESSE_REDIS_URL;
    try {
      process.env.HESSE_REDIS_URL = 'redis://:envpw@from-env:7000';
      expect(resolveRedisUrl('redis://given:6379')).toBe('redis://given:6379');
      expect(resolveRedisUrl()).toBe('redis://:envpw@from-env:7000');
      expect(resolveRedisUrl('')).toBe('redis://:envpw@from-env:7000');
      process.env.HESSE_REDIS_URL = 'http://:envpw@wrong';
      expect(() => resolveRedisUrl()).toThrow(OptionError);
      delete process.env.HESSE_REDIS_URL;
      // the caller says where the URL is given (a command names its flag); left out, the message names no flag
      expect(() => resolveRedisUrl(undefined, 'WHERE-IT-GOES')).toThrow(/no Redis URL: .*WHERE-IT-GOES.*HESSE_REDIS_URL/);
      expect(() => resolveRedisUrl()).toThrow(OptionError);
      expect(() => resolveRedisUrl()).toThrow(/no Redis URL: .*redis:\/\/HOST:PORT.*HESSE_REDIS_URL/);
      expect(() => resolveRedisUrl()).not.toThrow(/--/);
    } finally {
      if (saved === undefined) delete process.env.HESSE_REDIS_URL;
      else process.env.HESSE_REDIS_URL = saved;
    }
  });

  it('redacts every Redis URL in a text', () => {
    expect(redactCredentials('a redis://u:pw@h:1 and rediss://:pw2@h2 b')).toBe('a redis://u:***@h:1 and rediss://***@h2 b');
  });

  it('hesse worker needs a Redis URL (flag or HESSE_REDIS_URL) and sane numbers, and says so in one line', async () => {
    const env = { HESSE_REDIS_URL: '' };
    const none = await hesse(['worker'], { env });
    expect(none.code).not.toBe(0);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    expect(none.stderr.trim()).toMatch(/^hesse: no Redis URL: .*HESSE_REDIS_URL/);
    // where to give it: a flag that hesse worker has, whatever it is called
    const flags = none.stderr.match(/--[a-z][a-z-]*/g) ?? [];
    expect(flags.length, none.stderr).toBeGreaterThan(0);
    const help = (await hesse(['worker', '--help'])).stdout;
    for (const f of flags) expect(help, f).toMatch(new RegExp(`(^|[\\s,])${f}(?![\\w-])`, 'm'));
    const zero = await hesse(['worker', '--redis', 'redis://127.0.0.1:1', '--concurrency', '0'], { env });
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toMatch(/concurrency must be an integer of at least 1/);
    const unreachable = await hesse(['worker', '--redis', 'redis://hesse:hunter2@127.0.0.1:1'], { env });
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toMatch(/127\.0\.0\.1:1/);
    expect(unreachable.stderr).not.toMatch(/hunter2/);
  });
});

describe('job checks', () => {
  const keys = new RunKeys('r1');
  const job: ShardJob = {
    v: PROTOCOL_VERSION,
    runId: 'run-a',
    op: 'product',
    seq: 3,
    shardIndex: 1,
    modelHash: 'a'.repeat(64),
    thetaHash: null,
    parameters: 1000,
    dataset: { spec: { kind: 'synthetic', n: 100, seed: 1, classes: 10, split: 'train' }, normalize: { mean: [0.5, 0.5, 0.5], std: [0.2, 0.2, 0.2] } },
    shard: { start: 10, end: 20 },
    batchSize: 8,
    bnMode: 'eval',
    loss: 'cross-entropy',
    kind: 'hessian',
    maxBlock: 8,
    vectorKey: keys.vectors('run-a', 3),
    k: 4,
  };

  it('accepts a well-formed job of the admitted run', () => {
    expect(jobProblem(job, 'run-a', keys, DEFAULT_LIMITS)).toBeNull();
    expect(jobProblem({ ...job, op: 'loss', vectorKey: undefined, k: undefined }, 'run-a', keys, DEFAULT_LIMITS)).toBeNull();
  });

  it('names what is wrong with a malformed job', () => {
    const cases: [unknown, RegExp][] = [
      [null, /no data/],
      [{ ...job, v: 99 }, /protocol version/],
      [{ ...job, runId: 'run-b' }, /admitted to 'run-a'/],
      [{ ...job, op: 'exec' }, /unknown operation/],
      [{ ...job, modelHash: '../../etc/passwd' }, /model hash/],
      [{ ...job, thetaHash: 'xyz' }, /weights hash/],
      [{ ...job, parameters: 1e12 }, /limit/],
      [{ ...job, kind: 'fisher' }, /kind/],
      [{ ...job, bnMode: 'x' }, /BN mode/],
      [{ ...job, loss: 'hinge' }, /loss/],
      [{ ...job, batchSize: 0 }, /batch size/],
      [{ ...job, shard: { start: 5, end: 5 } }, /range/],
      [{ ...job, shard: { start: 0, end: 2e7 } }, /beyond/],
      [{ ...job, k: 0 }, /block of 0/],
      [{ ...job, k: 64, parameters: 1e7 }, /exceed/],
      [{ ...job, vectorKey: 'hesse:r1:model:abc' }, /vector key/],
      [{ ...job, vectorKey: keys.vectors('run-b', 3) }, /vector key/],
      [{ ...job, dataset: { spec: { kind: 'shell', cmd: 'rm -rf /' }, normalize: null } }, /unknown dataset kind/],
      [{ ...job, dataset: { spec: { kind: 'synthetic', n: 1e9, seed: 1, classes: 10, split: 'train' }, normalize: null } }, /synthetic set/],
      [{ ...job, dataset: { spec: { kind: 'tensor', path: '' }, normalize: null } }, /path/],
      [{ ...job, dataset: { ...job.dataset, normalize: { mean: [0], std: [0] } } }, /normalisation/],
    ];
    for (const [data, reason] of cases) expect(jobProblem(data, 'run-a', keys, DEFAULT_LIMITS), JSON.stringify(data)?.slice(0, 80)).toMatch(reason);
    expect(jobProblem(job, null, keys, DEFAULT_LIMITS)).toMatch(/admitted to 'none'/);
  });

  it('renews the TTL of every key of a run but those whose TTL is a signal (job locks, stalled checks, heartbeats)', () => {
    const k = new RunKeys('r1');
    for (const own of ['hesse:r1:jobs:abc-1-0:lock', 'hesse:r1:jobs:stalled-check', 'hesse:r1:jobs:limiter', 'hesse:r1:jobs:de:x', k.worker('w1')]) expect(k.keepsOwnTtl(own), own).toBe(true);
    for (const renewed of [k.meta, k.model('a'.repeat(64)), k.vectors('run', 3), k.result('run', 3, 1), 'hesse:r1:jobs:wait', 'hesse:r1:jobs:active', 'hesse:r1:jobs:id', 'hesse:r1:jobs:events', 'hesse:r1:jobs:meta', 'hesse:r1:jobs:abc-1-0', 'hesse:r1:jobs:stalled']) {
      expect(k.keepsOwnTtl(renewed), renewed).toBe(false);
    }
  });

  it('keeps run names to safe characters', () => {
    expect(() => new RunKeys('a:b')).toThrow(OptionError);
    expect(() => new RunKeys('*')).toThrow(OptionError);
    expect(new RunKeys('exp-1.2_b').pattern).toBe('hesse:exp-1.2_b:*');
  });
});

describe('shard affinity', () => {
  const shards = [{ start: 0, end: 9 }, { start: 9, end: 20 }, { start: 20, end: 26 }, { start: 26, end: 32 }];
  const jobs = (op: 'product' | 'loss' = 'product') => shards.map((shard, s) => ({ op, shardIndex: s, shard }) as ShardJob);
  const loads = (js: ShardJob[]) => {
    const m = new Map<string, number>();
    for (const j of js) m.set(j.preferred!, (m.get(j.preferred!) ?? 0) + j.shard.end - j.shard.start);
    return m;
  };
  const done = (js: ShardJob[]) => js.map((j) => ({ worker: j.preferred! }) as ShardJobResult);

  it('keeps each shard with the worker that computed it, evens out the loads, and hands a departed worker\'s shards on', () => {
    const a = new ShardAffinity(shards, 5000);
    // the first product all went to the quickest worker
    a.record(jobs(), shards.map(() => ({ worker: 'w1' }) as ShardJobResult));
    const second = jobs();
    a.prefer(second, ['w1', 'w2']);
    const l = loads(second);
    expect([...l.keys()].sort()).toEqual(['w1', 'w2']);
    expect(Math.abs(l.get('w1')! - l.get('w2')!)).toBeLessThanOrEqual(11);
    // from then on nothing moves while the same workers live
    a.record(second, done(second));
    const third = jobs();
    a.prefer(third, ['w1', 'w2']);
    expect(third.map((j) => j.preferred)).toEqual(second.map((j) => j.preferred));
    expect(third.every((j) => j.preferMs === 5000)).toBe(true);
    // w2 leaves: its shards go to w1; a loss evaluation is left to any worker
    const fourth = jobs();
    a.prefer(fourth, ['w1']);
    expect(fourth.every((j) => j.preferred === 'w1')).toBe(true);
    const losses = jobs('loss');
    a.prefer(losses, ['w1']);
    expect(losses.every((j) => j.preferred === undefined)).toBe(true);
  });
});

describe('dataset roots', () => {
  let base: string;
  let root: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'hesse-roots-'));
    root = join(base, 'data');
    await mkdir(join(root, 'sub'), { recursive: true });
    await writeFile(join(root, 'sub', 'set.safetensors'), 'x');
    await writeFile(join(base, 'secret.txt'), 'x');
    await symlink(join(base, 'secret.txt'), join(root, 'link.txt'));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it('finds files inside the roots, absolute or relative, and nothing outside', async () => {
    const roots = await realRoots([root]);
    expect(await resolveInRoots(join(root, 'sub', 'set.safetensors'), roots)).toBe(join(roots[0]!, 'sub', 'set.safetensors'));
    expect(await resolveInRoots('sub/set.safetensors', roots)).toBe(join(roots[0]!, 'sub', 'set.safetensors'));
    expect(await resolveInRoots(join(base, 'secret.txt'), roots)).toBeNull();
    expect(await resolveInRoots('../secret.txt', roots)).toBeNull();
    // a link inside a root that points out of it does not count as inside
    expect(await resolveInRoots('link.txt', roots)).toBeNull();
    expect(await resolveInRoots('missing.safetensors', roots)).toBeNull();
  });

  it('turns a job spec into one the worker may open, or says why not', async () => {
    const roots = await realRoots([root]);
    expect(await specWithinRoots({ kind: 'tensor', path: 'sub/set.safetensors' }, roots)).toEqual({ kind: 'tensor', path: join(roots[0]!, 'sub', 'set.safetensors') });
    await expect(specWithinRoots({ kind: 'tensor', path: join(base, 'secret.txt') }, roots)).rejects.toThrow(/not inside/);
    await expect(specWithinRoots({ kind: 'cifar10', dir: '/etc', split: 'train' }, roots)).rejects.toThrow(/not inside/);
    await expect(specWithinRoots({ kind: 'tensor', path: 'sub/set.safetensors' }, [])).rejects.toThrow(/'sub\/set\.safetensors'.*without dataset roots/);
    await expect(specWithinRoots({ kind: 'tensor', path: 'sub/set.safetensors' }, [])).rejects.not.toThrow(/--/);
    await expect(realRoots([join(base, 'nope')])).rejects.toThrow(/does not exist/);
  });
});

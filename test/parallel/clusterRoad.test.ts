import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inProcessExecutor } from '../../src/curvature/index.js';
import { clusterExecutor } from '../../src/parallel/index.js';
import { expectOneRoad, expectSameProducts, saveRoadModel, type Place } from '../api/roadCheck.js';
import { redisAnswers, redisRequired, SHARED_URL, startWorker, stopWorkers, type WorkerProcess } from './clusterHelpers.js';

const redisUp = await redisAnswers(SHARED_URL);
const run = `road-${process.pid}`;
const cluster: Place = {
  name: 'a Redis cluster of two workers',
  flags: ['--cluster', SHARED_URL, '--run', run],
  library: { cluster: { redisUrl: SHARED_URL, runName: run } },
  place: (p) => clusterExecutor(p, { redisUrl: SHARED_URL, runName: run }),
};

describe.skipIf(!redisUp && !redisRequired)('the cluster is the same road as this thread (Redis on 127.0.0.1:6379)', () => {
  let workers: WorkerProcess[] = [];
  beforeAll(async () => {
    expect(redisUp, 'Redis must answer on 127.0.0.1:6379 (HESSE_REQUIRE_REDIS=1)').toBe(true);
    await saveRoadModel();
    // the synthetic set has a spec the workers rebuild themselves: no files to share, an empty root
    const root = mkdtempSync(join(tmpdir(), 'hesse-road-root-'));
    workers = [0, 1].map(() => startWorker({ url: SHARED_URL, run, root }));
  });
  afterAll(() => stopWorkers(workers));

  it('hesse analyze --full-dataset --cluster and the library on the cluster: the same numbers to the last bit', () => expectOneRoad(cluster));
  it("the cluster's products equal this thread's to the last bit for the same shards", () =>
    expectSameProducts([{ name: 'this thread', flags: [], library: {}, place: inProcessExecutor }, cluster]));
});

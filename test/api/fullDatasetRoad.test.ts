import { beforeAll, describe, it } from 'vitest';
import { inProcessExecutor } from '../../src/curvature/index.js';
import { threadExecutor } from '../../src/parallel/index.js';
import { expectOneRoad, expectSameProducts, saveRoadModel, type Place } from './roadCheck.js';

/** Each place products can run in this process's machine; the Redis cluster's entry is in test/parallel/clusterRoad.test.ts. */
export const LOCAL_PLACES: Place[] = [
  { name: 'this thread', flags: ['--workers', '1'], library: { workers: 1 }, place: inProcessExecutor },
  { name: 'two worker threads', flags: ['--workers', '2'], library: { workers: 2 }, place: (p) => threadExecutor(p, { workers: 2 }) },
];

beforeAll(saveRoadModel);

describe("the library's whole-dataset analysis and the command's --full-dataset are one road", () => {
  it.each(LOCAL_PLACES)('$name: the same numbers to the last bit for the same seed and shards', expectOneRoad);
  it('every place gives the products of this thread to the last bit for the same shards', () => expectSameProducts(LOCAL_PLACES));
});

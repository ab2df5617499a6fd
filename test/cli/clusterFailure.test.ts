import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { AnalyzeOptions } from '../../src/api/analyze.js';
import { main } from '../../src/cli/program.js';
import { saveModel } from '../../src/io/checkpoint.js';
import { resnet } from '../../src/nn/index.js';
import { readResults } from '../../src/report/index.js';

const MESSAGE = 'Redis at redis://***@redis.example:6379 stayed unreachable for 30 s';

// The command's own analyze, with its products on a place that is lost for good once the eigen
// stage is done (the products a dry run's eigen stage took), as a cluster whose Redis went away.
vi.mock('../../src/api/analyze.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/api/analyze.js')>();
  const { inProcessExecutor } = await import('../../src/curvature/index.js');
  const { ClusterError } = await import('../../src/parallel/index.js');
  return {
    ...real,
    analyze: async (o: AnalyzeOptions) => {
      const dry = await real.analyze({ ...o, trace: false, place: inProcessExecutor });
      let left = dry.results.products.eigen!;
      return real.analyze({
        ...o,
        place: (p) => {
          const ex = inProcessExecutor(p);
          return {
            ...ex,
            size: ex.size,
            info: ex.info,
            stats: ex.stats,
            async products(vs: Float32Array[]) {
              left -= vs.length;
              if (left < 0) throw new ClusterError(MESSAGE);
              return ex.products(vs);
            },
          };
        },
      });
    },
  };
});

describe('analyze on a cluster lost for good', () => {
  it('writes the stages that finished, says what happened in one line and exits non-zero', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hesse-lost-'));
    const model = join(dir, 'r8.safetensors');
    await saveModel(model, resnet({ depth: 8, width: 2, seed: 1 }));
    const out = join(dir, 'out');
    const stderr: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stderr.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      code = await main(['analyze', '--model', model, '--data', 'synthetic:16', '--full-dataset', '--eigen', '1', '--trace', '--trace-products', '8', '--out', out, '--quiet', '--no-png']);
    } finally {
      spy.mockRestore();
    }
    expect(code).toBe(1);
    expect(stderr.join('').trim().split('\n')).toEqual([`hesse: ${MESSAGE}`]);
    const res = await readResults(out);
    expect(res.results.eigen!.values).toHaveLength(1);
    expect(res.results.trace).toBeUndefined();
    expect(res.failed).toEqual({ stage: 'trace', message: MESSAGE });
  });
});

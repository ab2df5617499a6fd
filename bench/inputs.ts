/**
 * The timings that used to be assertions in the data tests, and the cost of loading a model by
 * its number of tensors: synthetic-set generation (2048 samples), how long a download takes to
 * fail without network (a fetch that fails at once: no retry, no waiting on the connect timer),
 * and loadStateDict on ResNets of growing depth (per tensor the time should stay flat: the lookup
 * by name is linear in the number of keys, it was quadratic).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { downloadDataset, synthetic, type FetchLike } from '../src/data/index.js';
import { loadStateDict, stateDict } from '../src/io/checkpoint.js';
import { encodeSafetensors, parseSafetensors } from '../src/io/safetensors.js';
import { resnet } from '../src/nn/index.js';
import { timeMedian } from './stats.js';

const offline: FetchLike = async () => {
  throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' }) });
};

export async function benchInputs(): Promise<void> {
  console.log(`\nInputs (${cpus()[0]?.model ?? 'unknown CPU'}), medians of 5 after a warm-up:`);
  const syn = await timeMedian(() => synthetic({ n: 2048, seed: 9 }), 5);
  console.log(`  synthetic set, 2048 samples            ${syn.medianMs.toFixed(0).padStart(7)} ms`);

  const dir = await mkdtemp(join(tmpdir(), 'hesse-bench-inputs-'));
  try {
    const fail = await timeMedian(() => downloadDataset('cifar10', { dir, fetchImpl: offline }).catch(() => undefined), 5);
    console.log(`  download failing without network       ${fail.medianMs.toFixed(2).padStart(7)} ms`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }

  for (const depth of [110, 1202, 6002]) {
    const model = resnet({ depth, width: 1 });
    const file = parseSafetensors(encodeSafetensors(stateDict(model)));
    const target = resnet({ depth, width: 1, seed: 1 });
    const t = await timeMedian(() => loadStateDict(target, file.tensors, `resnet${depth}`), 5);
    const keys = file.tensors.size;
    console.log(
      `  loadStateDict, ResNet-${String(depth).padEnd(5)} ${String(keys).padStart(6)} tensors ${t.medianMs.toFixed(1).padStart(8)} ms  ${((1000 * t.medianMs) / keys).toFixed(2)} µs per tensor`,
    );
  }
}

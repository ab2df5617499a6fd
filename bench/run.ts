/**
 * npm run bench [-- kernels profile engine torch blocks train algorithms parallel cluster-retry cluster-unreachable inputs onnx coverage pyhessian ab]:
 * figures, never pass or fail. With no names, everything runs but `pyhessian` and `coverage` (long)
 * and `ab` (it needs a second checkout). `torch` runs hesse's engine figures and PyTorch (Debian's
 * python3-torch) on the same ResNet-20 and batch in pairs of fresh processes, and prints the median
 * ratios and both sides' peak memory; `pyhessian` does the same for PyHessian's example and `hesse
 * analyze`. `coverage` runs the trace estimators 400 times per configuration on dense matrices with
 * known traces and prints how often ±2 reported standard errors held the trace.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchAb } from './ab.js';
import { benchAlgorithms } from './algorithms.js';
import { benchBlocks } from './blocks.js';
import { benchClusterRetry } from './clusterRetry.js';
import { benchClusterUnreachable } from './clusterUnreachable.js';
import { benchCoverage } from './coverage.js';
import { benchEngine, type EngineFigures } from './engine.js';
import { benchInputs } from './inputs.js';
import { benchKernels } from './kernels.js';
import { benchOnnx } from './onnx.js';
import { benchParallel } from './parallel.js';
import { benchProfile } from './profile.js';
import { benchPyhessian } from './pyhessian.js';
import { benchTorch } from './torch.js';
import { benchTrain } from './train.js';

/** The engine figures from a fresh process (this one's tsx loader), for pairing with PyTorch's. */
function engineInProcess(): EngineFigures {
  const script = fileURLToPath(new URL('./engineProcess.ts', import.meta.url));
  const r = spawnSync(process.execPath, [...process.execArgv, script], { encoding: 'utf8', env: process.env, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`the engine benchmark process failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as EngineFigures;
}

const all = ['kernels', 'engine', 'torch', 'train', 'algorithms', 'parallel', 'cluster-retry', 'cluster-unreachable', 'inputs', 'onnx', 'profile', 'blocks', 'coverage', 'pyhessian', 'ab'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : all.filter((b) => b !== 'ab' && b !== 'pyhessian' && b !== 'coverage');
for (const w of wanted) if (!all.includes(w)) throw new Error(`unknown benchmark '${w}' (choose from ${all.join(', ')})`);

if (wanted.includes('kernels')) await benchKernels();
if (wanted.includes('profile')) await benchProfile();
if (wanted.includes('engine')) await benchEngine();
if (wanted.includes('torch')) await benchTorch(engineInProcess);
if (wanted.includes('blocks')) await benchBlocks();
if (wanted.includes('train')) await benchTrain();
if (wanted.includes('algorithms')) await benchAlgorithms();
if (wanted.includes('onnx')) await benchOnnx();
if (wanted.includes('parallel')) await benchParallel();
if (wanted.includes('cluster-retry')) await benchClusterRetry();
if (wanted.includes('cluster-unreachable')) await benchClusterUnreachable();
if (wanted.includes('inputs')) await benchInputs();
if (wanted.includes('coverage')) await benchCoverage();
if (wanted.includes('pyhessian')) await benchPyhessian();
if (wanted.includes('ab')) await benchAb();

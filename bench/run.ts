/**
 * npm run bench [-- kernels engine train algorithms parallel cluster-retry torch inputs onnx]: figures, never pass or fail.
 * With no names, everything runs. `torch` runs PyTorch (Debian's python3-torch) on the same
 * ResNet-20 and batch right after hesse's engine figures, and prints the ratios.
 */
import { benchAlgorithms } from './algorithms.js';
import { benchClusterRetry } from './clusterRetry.js';
import { benchEngine, type EngineFigures } from './engine.js';
import { benchInputs } from './inputs.js';
import { benchKernels } from './kernels.js';
import { benchOnnx } from './onnx.js';
import { benchParallel } from './parallel.js';
import { torchFigures } from './torch.js';
import { benchTrain } from './train.js';

const all = ['kernels', 'engine', 'torch', 'train', 'algorithms', 'parallel', 'cluster-retry', 'inputs', 'onnx'];
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : all;
for (const w of wanted) if (!all.includes(w)) throw new Error(`unknown benchmark '${w}' (choose from ${all.join(', ')})`);

let engine: EngineFigures[] = [];
if (wanted.includes('kernels')) await benchKernels();
if (wanted.includes('engine') || wanted.includes('torch')) engine = await benchEngine();
if (wanted.includes('torch')) {
  const ours = engine.find((e) => e.kernels === 'native') ?? engine[0]!;
  const t = torchFigures(ours.batch, 2);
  if (!t) console.log('\nPyTorch: not available (apt-get install python3-torch to compare)');
  else {
    console.log(`\nPyTorch ${t.torch}, ResNet-20, batch ${t.batch}, ${t.threads} threads, eval-mode BN, same machine and run:`);
    const line = (what: string, torchS: number, oursMs: number) =>
      console.log(`  ${what.padEnd(40)} PyTorch ${(torchS * 1000).toFixed(0).padStart(6)} ms   hesse ${oursMs.toFixed(0).padStart(6)} ms   PyTorch/hesse ${(torchS * 1000 / oursMs).toFixed(2)}`);
    line('forward', t.forward_s, ours.forward_ms);
    line('gradient', t.grad_s, ours.grad_ms);
    line('H·v (PyHessian: cached graph)', t.hvp_cached_graph_s, ours.hvp_ms);
    line('H·v from scratch (graph + product)', t.hvp_from_scratch_s, ours.primal_ms + ours.hvp_ms);
    console.log(`  JSON ${JSON.stringify({ torch: t, hesse: ours })}`);
  }
}
if (wanted.includes('onnx')) await benchOnnx();
if (wanted.includes('train')) await benchTrain();
if (wanted.includes('algorithms')) await benchAlgorithms();
if (wanted.includes('parallel')) await benchParallel();
if (wanted.includes('inputs')) await benchInputs();
if (wanted.includes('cluster-retry')) await benchClusterRetry();

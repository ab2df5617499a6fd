import { resnet, secondOrder } from '../src/nn/index.js';
import { Rng, Tensor } from '../src/tensor/index.js';
const model = resnet({ depth: 20 });
const rng = new Rng(0);
const n = Number(process.env.N ?? 128);
const k = Number(process.env.K ?? 1);
const batch = { x: new Tensor([n, 3, 32, 32], rng.fillNormal(new Float32Array(n * 3 * 1024)) as Float32Array), y: Int32Array.from({ length: n }, () => rng.int(10)) };
const ctx = secondOrder(model, batch);
const vs = Array.from({ length: k }, () => rng.fillNormal(new Float32Array(model.size)) as Float32Array);
ctx.hvpBlock(vs);
for (let i = 0; i < 2; i++) { const t = performance.now(); ctx.hvpBlock(vs); console.log('hvp k=' + k, (performance.now() - t).toFixed(1)); }

import { createResults } from '../../src/report/createResults.js';
import type { HesseResults, LandscapeResult } from '../../src/report/results.js';

/** A density made the way SLQ's is: Gaussians at the nodes, weighted, on an even grid. */
function gaussianMixture(nodes: number[][], weights: number[][], points: number, sigma2: number) {
  const all = nodes.flat();
  const lo = Math.min(...all) - 0.5;
  const hi = Math.max(...all) + 0.5;
  const grid = Array.from({ length: points }, (_, i) => lo + ((hi - lo) * i) / (points - 1));
  const density = grid.map((x) => {
    let s = 0;
    nodes.forEach((row, r) => row.forEach((t, k) => (s += (weights[r]![k]! * Math.exp(-((x - t) ** 2) / (2 * sigma2))) / Math.sqrt(2 * Math.PI * sigma2))));
    return s / nodes.length;
  });
  return { grid, density };
}

export function landscape1d(): LandscapeResult {
  const alphas = Array.from({ length: 21 }, (_, i) => -1 + i / 10);
  return {
    dims: 1,
    directions: 'eigen',
    alphas,
    loss: alphas.map((a) => 0.3 + 2 * a * a),
    accuracy: alphas.map((a) => 0.95 - 0.4 * a * a),
    originLoss: 0.3,
    bnMode: 'eval',
  };
}

export function landscape2d(n = 15): LandscapeResult {
  const alphas = Array.from({ length: n }, (_, i) => -1 + (2 * i) / (n - 1));
  const betas = alphas.map((a) => a * 0.5);
  return {
    dims: 2,
    directions: 'random',
    alphas,
    betas,
    loss: alphas.map((a) => betas.map((b) => 0.2 + a * a + 3 * b * b + 0.3 * a * b)),
    accuracy: alphas.map((a) => betas.map((b) => 0.9 - 0.1 * (a * a + b * b))),
    originLoss: 0.2,
  };
}

/** A results object with every section filled, numbers shaped like a real run's. */
export function syntheticResults(): HesseResults {
  const nodes = [
    [-0.8, 0.01, 0.3, 2.5, 40],
    [-0.5, 0.02, 0.4, 3.1, 39.5],
  ];
  const weights = [
    [0.05, 0.7, 0.15, 0.08, 0.02],
    [0.04, 0.72, 0.14, 0.08, 0.02],
  ];
  const { grid, density } = gaussianMixture(nodes, weights, 3000, 0.01);
  return createResults({
    command: 'analyze',
    kernels: 'reference (test)',
    argv: ['analyze', '--model', 'm.safetensors', '--data', 'synthetic'],
    createdAt: new Date('2025-01-02T03:04:05.000Z'),
    inputs: {
      model: { description: 'resnet8 (BN, residual), 10 classes, 78,042 parameters', architecture: 'resnet8', parameters: 78042 },
      data: { description: 'synthetic, 256 images 3x32x32', source: 'synthetic', classes: 10 },
      samples: { hessian: 128, landscape: 128 },
    },
    options: { seed: 7, bnMode: 'eval', curvature: 'hessian', eigenMethod: 'lanczos', traceMethod: 'hutch++', batch: 128 },
    timings: { eigen: 1234.5, trace: 800, density: 2500, landscape: 900 },
    products: { eigen: 60, trace: 90, density: 200 },
    results: {
      eigen: { method: 'lanczos', values: [41.2, 12.5, 8.25, 3.1, -0.7], residuals: [1e-4, 2e-4, 3e-4, 5e-4, 1e-3], products: 60, ms: 1234.5 },
      trace: { method: 'hutch++', estimate: 312.4, standardError: 4.2, probes: 90, products: 90, ms: 800 },
      density: { nodes, weights, grid, density, steps: 5, probes: 2, reorthogonalization: 'full', sigmaSquared: 0.01, products: 200, ms: 2500 },
      diagonal: { perBlock: [{ name: 'conv1.weight', sum: 12.5, mean: 0.029, parameters: 432 }, { name: 'fc.weight', sum: 30.1, mean: 0.047, parameters: 640 }] },
      perLayer: [
        { name: 'conv1.weight', parameters: 432, trace: 12.5, traceStdErr: 0.4, topEigenvalue: 3.2 },
        { name: 'layer1.0.conv1.weight', parameters: 2304, trace: 40.2, traceStdErr: 1.1, topEigenvalue: 9.5 },
        { name: 'layer1.0.conv2.weight', parameters: 2304, trace: 35.7, traceStdErr: 0.9, topEigenvalue: 8.1 },
        { name: 'fc.weight', parameters: 640, trace: 30.1, traceStdErr: 0.8, topEigenvalue: 20.4 },
        { name: 'fc.bias', parameters: 10, trace: 0.9, traceStdErr: 0.05, topEigenvalue: 0.5 },
      ],
      landscape: landscape1d(),
      training: {
        epochs: [1, 2, 3, 4].map((epoch) => ({
          epoch,
          trainLoss: 2.3 / epoch,
          trainAcc: 0.2 * epoch,
          testLoss: 2.4 / epoch + 0.05,
          testAcc: 0.18 * epoch,
          lr: 0.1 / epoch,
          seconds: 3.5,
        })),
      },
    },
  });
}

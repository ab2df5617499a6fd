import { layerGroups, restrictOperator, type CurvatureOperator } from '../curvature/index.js';
import { OptionError } from '../errors.js';
import {
  confirmedRitzPairs,
  densityOnGrid,
  hutchinson,
  hutchinsonDiagonal,
  hutchPlusPlus,
  lanczosEigs,
  powerIteration,
  projectedTrace,
  slq,
  xtrace,
  type HutchinsonDiagonalResult,
  type HutchinsonOptions,
  type KrylovBasis,
  type Progress,
} from '../linalg/index.js';
import type { Model } from '../nn/index.js';
import type { DensityResult, DiagonalResult, EigenResult, JsonValue, PerLayerResult, ResultsSections, TraceResult } from '../report/results.js';
import { choice, count, positive, requested, type Request } from './check.js';

export const EIGEN_METHODS = ['lanczos', 'power'] as const;
export type EigenMethod = (typeof EIGEN_METHODS)[number];
export const TRACE_METHODS = ['hutchinson', 'hutch++', 'xtrace'] as const;
export type TraceMethod = (typeof TRACE_METHODS)[number];

export interface EigenOptions {
  /** how many of the largest eigenvalues (default 1) */
  k?: number;
  /** 'lanczos' (thick-restart, default) or 'power' (PyHessian's deflated power iteration) */
  method?: EigenMethod;
  /** Lanczos only: the relative residual at which an eigenpair counts as converged (default 1e-4) */
  tol?: number;
  /** Lanczos only: the first vector of the Krylov space, e.g. the top eigenvector of a nearby operator (a warm start); default a random one */
  startVector?: Float32Array;
}

export interface TraceOptions {
  /** 'hutchinson' (default), 'hutch++' or 'xtrace' */
  method?: TraceMethod;
  /** products: Hutchinson's probes (at most, with a stopping rule), Hutch++'s budget (a multiple of 3), XTrace's (even); default 100, 99, 100 */
  products?: number;
  /** Hutchinson only: PyHessian's stopping rule, the relative change of the running mean */
  tol?: number;
  /** Hutchinson only: stop once the relative standard error reaches this (products stay the cap) */
  targetRse?: number;
}

export interface DensityOptions {
  /** Lanczos steps per probe (default 100, PyHessian's; at most the parameter count) */
  steps?: number;
  /** probe vectors, one Lanczos run each (default 1) */
  probes?: number;
}

export interface DiagonalOptions {
  /** Rademacher probes (default 50) */
  probes?: number;
}

export interface PerLayerOptions {
  /** probes of the diagonal estimate whose block sums are the per-layer traces (default 50; shared with the diagonal when equal) */
  probes?: number;
  /** each layer's top eigenvalue too: a Lanczos run on each layer's block */
  eigen?: boolean;
}

/** The estimates analyze can run, each asked for with true (defaults) or its options. */
export interface StageRequests {
  eigen?: Request<EigenOptions>;
  trace?: Request<TraceOptions>;
  density?: Request<DensityOptions>;
  diagonal?: Request<DiagonalOptions>;
  perLayer?: Request<PerLayerOptions>;
}

export type StageName = keyof StageRequests;

export const STAGE_DEFAULTS = Object.freeze({ eigenValues: 1, densitySteps: 100, densityProbes: 1, probes: 50, traceProducts: { hutchinson: 100, 'hutch++': 99, xtrace: 100 } });

/** What a stage sees: the operator, the model, and what earlier stages left. */
export interface StageContext {
  operator: CurvatureOperator;
  model: Model;
  /** the options every algorithm of the stage takes: the seed, progress under `label`, the stop signal */
  algorithm(label: string): { seed: number; onProgress: (p: Progress) => void; signal?: AbortSignal };
  /** products and milliseconds the stage has spent so far (counted by the operator) */
  spent(): { products: number; ms: number };
  signal?: AbortSignal;
  shared: SharedWork;
}

/** What the stages of one analyze call pass on to the later ones (same operator, same batch). */
export interface SharedWork {
  eigenvectors: Float32Array[];
  diagonal?: { probes: number; result: Promise<HutchinsonDiagonalResult> };
  /** the density keeps its first Lanczos run's basis for the eigen and trace stages (see `prepareStages`) */
  keepKrylov: boolean;
  krylov?: KrylovBasis;
}

export interface StageResult {
  section: NonNullable<ResultsSections[StageName]>;
  /** stopped by the signal: the section holds what finished */
  aborted: boolean;
}

/** A stage asked for, its options checked: what the results record of them, and how to run it. */
export interface PreparedStage {
  name: StageName;
  record: Record<string, JsonValue>;
  run(ctx: StageContext): Promise<StageResult>;
}

interface Stage<K extends StageName, O> {
  name: K;
  /** checks the request's options and fills in the defaults */
  resolve(r: Partial<Exclude<StageRequests[K], boolean | undefined>>): O;
  record(o: O): Record<string, JsonValue>;
  run(ctx: StageContext, o: O): Promise<StageResult>;
}

function stage<K extends StageName, O>(s: Stage<K, O>) {
  return {
    name: s.name,
    prepare(requests: StageRequests): PreparedStage | undefined {
      const r = requested(`the '${s.name}' request`, requests[s.name]) as Partial<Exclude<StageRequests[K], boolean | undefined>> | undefined;
      if (!r) return undefined;
      const o = s.resolve(r);
      return { name: s.name, record: s.record(o), run: (ctx) => s.run(ctx, o) };
    },
  };
}

type EigenSettings = { k: number; method: EigenMethod; tol?: number; startVector?: Float32Array };

const eigenMethods: Record<EigenMethod, (ctx: StageContext, o: EigenSettings) => Promise<{ result: Omit<EigenResult, 'products' | 'ms'>; vectors: Float32Array[]; aborted: boolean }>> = {
  lanczos: async (ctx, { k, tol, startVector }) => {
    // the density's Lanczos run holds the top Ritz pairs: one product each confirms them
    const krylov = startVector ? undefined : ctx.shared.krylov;
    let warm = startVector;
    if (krylov) {
      const r = await confirmedRitzPairs(ctx.operator, krylov, { k, ...(tol !== undefined ? { tol } : {}), ...ctx.algorithm('eigen') });
      const reuses = `the density's Lanczos run (${krylov.alphas.length} steps): ${k === 1 ? 'its top Ritz pair, confirmed by one product' : `its top ${k} Ritz pairs, each confirmed by one product`}`;
      if (r.aborted || (r.converged.length === k && r.converged.every(Boolean))) {
        return { result: { method: 'Ritz pairs of the density\'s Lanczos run', values: r.eigenvalues, residuals: r.residualNorms, converged: r.converged.every(Boolean), reuses }, vectors: r.eigenvectors, aborted: r.aborted };
      }
      // not converged to tol: a Lanczos run of its own, warm started from the top Ritz vector
      warm = r.eigenvectors[0];
    }
    const l = await lanczosEigs(ctx.operator, { k, which: 'largest', ...(tol !== undefined ? { tol } : {}), ...(warm ? { startVector: warm } : {}), ...ctx.algorithm('eigen') });
    const result: Omit<EigenResult, 'products' | 'ms'> = { method: 'thick-restart Lanczos', values: l.eigenvalues, residuals: l.residualNorms, converged: l.converged.every(Boolean) };
    if (krylov) result.reuses = `the density's Lanczos run (${krylov.alphas.length} steps): its top Ritz vector, short of the tolerance after one product, started this run`;
    return { result, vectors: l.eigenvectors, aborted: l.aborted };
  },
  power: async (ctx, { k }) => {
    const p = await powerIteration(ctx.operator, { topN: k, ...ctx.algorithm('eigen') });
    return { result: { method: 'power iteration (PyHessian)', values: p.eigenvalues }, vectors: p.eigenvectors, aborted: p.aborted };
  },
};

type TraceSettings = { method: TraceMethod; products: number; tol?: number; targetRse?: number };

const traceMethods: Record<TraceMethod, (ctx: StageContext, o: TraceSettings) => Promise<{ result: Omit<TraceResult, 'products' | 'ms'>; aborted: boolean }>> = {
  hutchinson: async (ctx, o) => {
    const options: HutchinsonOptions = { probes: o.products, ...ctx.algorithm('trace') };
    if (o.tol !== undefined) options.tol = o.tol;
    if (o.targetRse !== undefined) options.targetRse = o.targetRse;
    // the density's Krylov basis deflates the probes: its part of the trace, tr(QᵀHQ), is known without products
    const krylov = ctx.shared.krylov;
    const known = krylov ? projectedTrace(krylov) : 0;
    if (krylov) options.deflation = { basis: krylov.basis, projectedTrace: known };
    const h = await hutchinson(ctx.operator, options);
    const result: Omit<TraceResult, 'products' | 'ms'> = {
      method: krylov ? 'Hutchinson (Rademacher), deflated by the density\'s Krylov basis' : 'Hutchinson (Rademacher)',
      estimate: h.estimate,
      standardError: h.standardError,
      probes: h.samples.length,
      relativeStandardError: h.relativeStandardError,
      stoppedBy: h.stoppedBy,
      errorEstimate: h.errorEstimate,
    };
    if (krylov) result.reuses = `the density's Lanczos run (${krylov.alphas.length} steps): tr(QᵀHQ) = ${known.toPrecision(6)} from its basis Q, exact; the probes estimate the rest, tr(H) - tr(QᵀHQ)`;
    return { result, aborted: h.aborted };
  },
  'hutch++': async (ctx, o) => {
    const h = await hutchPlusPlus(ctx.operator, { products: o.products, ...ctx.algorithm('trace') });
    return { result: { method: 'Hutch++', estimate: h.estimate, standardError: h.standardError, probes: h.residualSamples.length, errorEstimate: h.errorEstimate }, aborted: h.aborted };
  },
  xtrace: async (ctx, o) => {
    const x = await xtrace(ctx.operator, { products: o.products, ...ctx.algorithm('trace') });
    const method = x.estimator === 'xtrace' ? 'XTrace' : 'Hutchinson (XTrace stopped before its sketch)';
    return {
      result: { method, estimate: x.estimate, standardError: x.standardError, jackknifeStandardError: x.jackknifeStandardError, errorEstimate: x.errorEstimate, probes: o.products / 2 },
      aborted: x.aborted,
    };
  },
};

/** Products a trace method can use: Hutch++ spends them in thirds, XTrace in halves. */
function traceBudget(method: TraceMethod, products: number): number {
  if (method === 'hutch++') return Math.max(3, Math.floor(products / 3) * 3);
  if (method === 'xtrace') return Math.max(4, Math.floor(products / 2) * 2);
  return products;
}

/** The parameter blocks per layer (weight and bias together) of an operator over the whole model; none for a restriction. */
function layerBlocks(ctx: StageContext) {
  const groups = layerGroups(ctx.model.blocks);
  const whole = ctx.operator.info.blocks.length === ctx.model.blocks.length;
  return { groups, blocks: whole ? groups.map((g) => ({ name: g.name, offset: g.blocks[0]!.offset, length: g.blocks.reduce((s, b) => s + b.length, 0) })) : [] };
}

/** One Hutchinson diagonal run per probe count: the diagonal and the per-layer traces share it. */
function diagonalRun(ctx: StageContext, probes: number): Promise<HutchinsonDiagonalResult> {
  if (ctx.shared.diagonal?.probes !== probes) {
    ctx.shared.diagonal = { probes, result: hutchinsonDiagonal(ctx.operator, { probes, blocks: layerBlocks(ctx).blocks, ...ctx.algorithm('diagonal') }) };
  }
  return ctx.shared.diagonal.result;
}

/**
 * The table of what analyze computes, in order: adding an estimator is one entry here (and its
 * request in StageRequests). Each entry checks its options before anything runs, records them,
 * and fills its section of the results.
 */
export const ANALYSIS_STAGES = [
  stage({
    name: 'eigen',
    resolve: (r) => {
      const o: EigenSettings = { k: count('the number of top eigenvalues', r.k, STAGE_DEFAULTS.eigenValues), method: choice('the eigenvalue method', r.method, EIGEN_METHODS, 'lanczos') };
      const tol = positive('the eigenvalue tolerance', r.tol, 1);
      if ((tol !== undefined || r.startVector !== undefined) && o.method !== 'lanczos') {
        throw new OptionError(`a tolerance or a start vector for the eigenvalues needs the Lanczos method, not ${o.method}`);
      }
      if (tol !== undefined) o.tol = tol;
      if (r.startVector !== undefined) {
        if (!(r.startVector instanceof Float32Array)) throw new OptionError('the start vector of the eigenvalues must be a Float32Array with one value per parameter');
        o.startVector = r.startVector;
      }
      return o;
    },
    record: (o) => ({ eigen: o.k, eigenMethod: o.method, ...(o.tol !== undefined ? { eigenTol: o.tol } : {}), ...(o.startVector ? { eigenWarmStart: true } : {}) }),
    async run(ctx, o) {
      const r = await eigenMethods[o.method](ctx, o);
      ctx.shared.eigenvectors = r.vectors;
      return { section: { ...r.result, ...ctx.spent() } satisfies EigenResult, aborted: r.aborted };
    },
  }),
  stage({
    name: 'trace',
    resolve: (r) => {
      const method = choice('the trace method', r.method, TRACE_METHODS, 'hutchinson');
      const o: TraceSettings = { method, products: traceBudget(method, count('the number of trace products', r.products, STAGE_DEFAULTS.traceProducts[method])) };
      const tol = positive('the trace tolerance', r.tol);
      const targetRse = positive('the target relative standard error of the trace', r.targetRse, 1);
      if ((tol !== undefined || targetRse !== undefined) && method !== 'hutchinson') {
        throw new OptionError(`a stopping rule for the trace (tolerance or target relative standard error) needs the Hutchinson estimator, not ${method}`);
      }
      if (tol !== undefined && targetRse !== undefined) throw new OptionError('give the trace one stopping rule: a tolerance or a target relative standard error, not both');
      if (tol !== undefined) o.tol = tol;
      if (targetRse !== undefined) o.targetRse = targetRse;
      return o;
    },
    record: (o) => ({ trace: true, traceMethod: o.method, traceProducts: o.products, ...(o.tol !== undefined ? { traceTol: o.tol } : {}), ...(o.targetRse !== undefined ? { traceTargetRse: o.targetRse } : {}) }),
    async run(ctx, o) {
      const r = await traceMethods[o.method](ctx, o);
      return { section: { ...r.result, ...ctx.spent() } satisfies TraceResult, aborted: r.aborted };
    },
  }),
  stage({
    name: 'density',
    resolve: (r) => ({
      steps: count('the number of Lanczos steps of the density', r.steps, STAGE_DEFAULTS.densitySteps),
      probes: count('the number of probes of the density', r.probes, STAGE_DEFAULTS.densityProbes),
    }),
    record: (o) => ({ density: true, densitySteps: o.steps, densityProbes: o.probes }),
    async run(ctx, o) {
      // the Krylov space cannot grow beyond the parameter count
      const s = await slq(ctx.operator, { steps: Math.min(o.steps, ctx.operator.size), probes: o.probes, reorthogonalize: 'full', keepBasis: ctx.shared.keepKrylov, ...ctx.algorithm('density') });
      ctx.shared.krylov = s.runs[0]?.krylov;
      const grid = densityOnGrid(s);
      const section: DensityResult = {
        nodes: s.runs.map((run) => [...run.nodes]),
        weights: s.runs.map((run) => [...run.weights]),
        grid: [...grid.grid],
        density: [...grid.density],
        // the steps that ran, which a breakdown, an abort or a small model make fewer than asked
        steps: s.runs.reduce((m, run) => Math.max(m, run.steps), 0),
        probes: s.runs.length,
        // per probe: how often its run went on with a fresh vector after a true breakdown
        restarts: s.runs.map((run) => run.restarts),
        reorthogonalization: 'full',
        sigmaSquared: grid.sigmaSquared,
        ...ctx.spent(),
      };
      return { section, aborted: s.aborted };
    },
  }),
  stage({
    name: 'diagonal',
    resolve: (r) => ({ probes: count('the number of probes of the diagonal', r.probes, STAGE_DEFAULTS.probes) }),
    record: (o) => ({ diag: true, diagonalProbes: o.probes }),
    async run(ctx, o) {
      const d = await diagonalRun(ctx, o.probes);
      const perBlock = ctx.model.blocks.map((b) => {
        let sum = 0;
        for (let i = b.offset; i < b.offset + b.length; i++) sum += d.diagonal[i]!;
        return { name: b.name, sum, mean: sum / b.length, parameters: b.length };
      });
      return { section: { method: 'Hutchinson diagonal (Rademacher)', probes: d.samples, perBlock, ...ctx.spent() } satisfies DiagonalResult, aborted: d.aborted };
    },
  }),
  stage({
    name: 'perLayer',
    resolve: (r) => ({ probes: count('the number of probes of the per-layer traces', r.probes, STAGE_DEFAULTS.probes), eigen: !!r.eigen }),
    record: (o) => ({ perLayer: true, perLayerProbes: o.probes, perLayerEigen: o.eigen }),
    async run(ctx, o) {
      const d = await diagonalRun(ctx, o.probes);
      const layers: PerLayerResult[] = d.blocks.map((b) => ({ name: b.name, parameters: b.length, trace: b.trace, traceStdErr: b.standardError }));
      let aborted = d.aborted;
      if (o.eigen) {
        for (const [i, g] of layerBlocks(ctx).groups.entries()) {
          if (aborted || ctx.signal?.aborted) break;
          const l = await lanczosEigs(restrictOperator(ctx.operator, g.blocks), { k: 1, tol: 1e-3, ...ctx.algorithm(`layer ${g.name}`) }).catch((e: unknown) => {
            // a stop before this layer's first product: the layers before it are kept
            if (ctx.signal?.aborted) return undefined;
            throw e;
          });
          if (!l) {
            aborted = true;
            break;
          }
          aborted = l.aborted;
          layers[i]!.topEigenvalue = l.eigenvalues[0]!;
        }
      }
      return { section: layers, aborted };
    },
  }),
];

/**
 * The stages the requests ask for, each checked, in table order; with `share`, the density first
 * when the eigen or trace stage will reuse its Lanczos run (`keepKrylov`): the top Ritz pairs of
 * that run are the eigen stage's first guess, and its basis deflates the Hutchinson trace.
 */
export function prepareStages(requests: StageRequests, share = true): { stages: PreparedStage[]; keepKrylov: boolean } {
  const stages = ANALYSIS_STAGES.flatMap((s) => s.prepare(requests) ?? []);
  const density = stages.find((s) => s.name === 'density');
  const eigen = stages.find((s) => s.name === 'eigen');
  const trace = stages.find((s) => s.name === 'trace');
  const reusers = [eigen?.record.eigenMethod === 'lanczos' && !eigen.record.eigenWarmStart, trace?.record.traceMethod === 'hutchinson'].filter(Boolean).length;
  if (!share || !density || reusers === 0) return { stages, keepKrylov: false };
  return { stages: [density, ...stages.filter((s) => s !== density)], keepKrylov: true };
}

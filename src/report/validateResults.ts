import type {
  DensityResult,
  DiagonalResult,
  EigenResult,
  EvaluationResult,
  HesseResults,
  LandscapeResult,
  PerLayerResult,
  ResultsSections,
  TraceResult,
  TrainingResult,
} from './results.js';
import { RESULTS_FORMAT, RESULTS_SCHEMA_VERSION } from './results.js';
import { study } from './validateStudy.js';

/** Where in the object a value is wrong and how; the caller turns it into the right error. */
export class ResultsShapeProblem extends Error {
  constructor(
    readonly at: string,
    readonly problem: string,
  ) {
    super(`${at} ${problem}`);
  }
}

type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function object(at: string, v: unknown): Obj {
  if (!isObject(v)) throw new ResultsShapeProblem(at, 'must be an object');
  return v;
}

export function string(at: string, v: unknown): string {
  if (typeof v !== 'string') throw new ResultsShapeProblem(at, 'must be a string');
  return v;
}

// JSON has no NaN or Infinity: the writer stores them as null, so null reads back as NaN.
export function num(at: string, v: unknown): number {
  if (v === null) return Number.NaN;
  if (typeof v !== 'number') throw new ResultsShapeProblem(at, 'must be a number');
  return v;
}

export function optNum(at: string, v: unknown): number | undefined {
  return v === undefined ? undefined : num(at, v);
}

export function nums(at: string, v: unknown): number[] {
  if (!Array.isArray(v)) throw new ResultsShapeProblem(at, 'must be an array of numbers');
  return v.map((x, i) => num(`${at}[${i}]`, x));
}

export function matrix(at: string, v: unknown): number[][] {
  if (!Array.isArray(v)) throw new ResultsShapeProblem(at, 'must be an array of arrays of numbers');
  return v.map((row, i) => nums(`${at}[${i}]`, row));
}

function numberRecord(at: string, v: unknown): Record<string, number> {
  if (v === undefined) return {};
  const o = object(at, v);
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(o)) out[k] = num(`${at}.${k}`, x);
  return out;
}

function sameLength(at: string, a: readonly unknown[], b: readonly unknown[], what: string): void {
  if (a.length !== b.length) throw new ResultsShapeProblem(at, `has ${a.length} entries but ${what} has ${b.length}`);
}

function evaluation(at: string, v: unknown): EvaluationResult {
  const o = object(at, v);
  const accuracy = optNum(`${at}.accuracy`, o.accuracy);
  return { ...o, loss: num(`${at}.loss`, o.loss), ...(accuracy !== undefined ? { accuracy } : {}), samples: num(`${at}.samples`, o.samples ?? null) } as EvaluationResult;
}

function eigen(at: string, v: unknown): EigenResult {
  const o = object(at, v);
  const values = nums(`${at}.values`, o.values);
  const residuals = o.residuals === undefined ? undefined : nums(`${at}.residuals`, o.residuals);
  if (residuals) sameLength(`${at}.residuals`, residuals, values, `${at}.values`);
  return {
    ...o,
    method: string(`${at}.method`, o.method),
    values,
    ...(residuals ? { residuals } : {}),
    ...(o.reuses !== undefined ? { reuses: string(`${at}.reuses`, o.reuses) } : {}),
    products: num(`${at}.products`, o.products ?? 0),
    ms: num(`${at}.ms`, o.ms ?? 0),
  } as EigenResult;
}

function trace(at: string, v: unknown): TraceResult {
  const o = object(at, v);
  return {
    ...o,
    method: string(`${at}.method`, o.method),
    estimate: num(`${at}.estimate`, o.estimate),
    standardError: num(`${at}.standardError`, o.standardError ?? null),
    ...(o.reuses !== undefined ? { reuses: string(`${at}.reuses`, o.reuses) } : {}),
    products: num(`${at}.products`, o.products ?? 0),
    ms: num(`${at}.ms`, o.ms ?? 0),
  } as TraceResult;
}

function density(at: string, v: unknown): DensityResult {
  const o = object(at, v);
  const grid = nums(`${at}.grid`, o.grid);
  const values = nums(`${at}.density`, o.density);
  sameLength(`${at}.density`, values, grid, `${at}.grid`);
  const nodes = matrix(`${at}.nodes`, o.nodes ?? []);
  const weights = matrix(`${at}.weights`, o.weights ?? []);
  sameLength(`${at}.weights`, weights, nodes, `${at}.nodes`);
  weights.forEach((row, i) => sameLength(`${at}.weights[${i}]`, row, nodes[i]!, `${at}.nodes[${i}]`));
  return {
    ...o,
    nodes,
    weights,
    grid,
    density: values,
    steps: num(`${at}.steps`, o.steps ?? nodes[0]?.length ?? 0),
    probes: num(`${at}.probes`, o.probes ?? nodes.length),
    reorthogonalization: string(`${at}.reorthogonalization`, o.reorthogonalization ?? 'full'),
  } as DensityResult;
}

function diagonal(at: string, v: unknown): DiagonalResult {
  const o = object(at, v);
  if (!Array.isArray(o.perBlock)) throw new ResultsShapeProblem(`${at}.perBlock`, 'must be an array');
  const perBlock = o.perBlock.map((b, i) => {
    const p = `${at}.perBlock[${i}]`;
    const bo = object(p, b);
    return {
      ...bo,
      name: string(`${p}.name`, bo.name),
      sum: num(`${p}.sum`, bo.sum),
      mean: num(`${p}.mean`, bo.mean),
      ...(bo.parameters === undefined ? {} : { parameters: num(`${p}.parameters`, bo.parameters) }),
    };
  });
  return { ...o, perBlock } as DiagonalResult;
}

function perLayer(at: string, v: unknown): PerLayerResult[] {
  if (!Array.isArray(v)) throw new ResultsShapeProblem(at, 'must be an array of layers');
  return v.map((l, i) => {
    const p = `${at}[${i}]`;
    const o = object(p, l);
    const out: PerLayerResult = {
      ...o,
      name: string(`${p}.name`, o.name),
      parameters: num(`${p}.parameters`, o.parameters ?? 0),
    };
    const tr = optNum(`${p}.trace`, o.trace);
    const se = optNum(`${p}.traceStdErr`, o.traceStdErr);
    const top = optNum(`${p}.topEigenvalue`, o.topEigenvalue);
    if (tr !== undefined) out.trace = tr;
    if (se !== undefined) out.traceStdErr = se;
    if (top !== undefined) out.topEigenvalue = top;
    return out;
  });
}

function surface(at: string, v: unknown, alphas: number[], betas: number[] | undefined): number[] | number[][] {
  if (betas === undefined) {
    const line = nums(at, v);
    sameLength(at, line, alphas, 'alphas');
    return line;
  }
  const grid = matrix(at, v);
  sameLength(at, grid, alphas, 'alphas');
  grid.forEach((row, i) => sameLength(`${at}[${i}]`, row, betas, 'betas'));
  return grid;
}

function landscape(at: string, v: unknown): LandscapeResult {
  const o = object(at, v);
  const dims = o.dims;
  if (dims !== 1 && dims !== 2) throw new ResultsShapeProblem(`${at}.dims`, 'must be 1 or 2');
  const alphas = nums(`${at}.alphas`, o.alphas);
  const betas = dims === 2 ? nums(`${at}.betas`, o.betas) : undefined;
  const out: LandscapeResult = {
    ...o,
    dims,
    directions: string(`${at}.directions`, o.directions) as LandscapeResult['directions'],
    alphas,
    loss: surface(`${at}.loss`, o.loss, alphas, betas),
  };
  if (betas) out.betas = betas;
  if (o.accuracy !== undefined) out.accuracy = surface(`${at}.accuracy`, o.accuracy, alphas, betas);
  const origin = optNum(`${at}.originLoss`, o.originLoss);
  if (origin !== undefined) out.originLoss = origin;
  return out;
}

function training(at: string, v: unknown): TrainingResult {
  const o = object(at, v);
  if (!Array.isArray(o.epochs)) throw new ResultsShapeProblem(`${at}.epochs`, 'must be an array');
  const epochs = o.epochs.map((e, i) => {
    const p = `${at}.epochs[${i}]`;
    const eo = object(p, e);
    const out: TrainingResult['epochs'][number] = {
      ...eo,
      epoch: num(`${p}.epoch`, eo.epoch),
      trainLoss: num(`${p}.trainLoss`, eo.trainLoss),
      trainAcc: num(`${p}.trainAcc`, eo.trainAcc),
      lr: num(`${p}.lr`, eo.lr ?? null),
      seconds: num(`${p}.seconds`, eo.seconds ?? null),
    };
    const testLoss = optNum(`${p}.testLoss`, eo.testLoss);
    const testAcc = optNum(`${p}.testAcc`, eo.testAcc);
    if (testLoss !== undefined) out.testLoss = testLoss;
    if (testAcc !== undefined) out.testAcc = testAcc;
    return out;
  });
  return { ...o, epochs };
}

/** Options are shown in the report as JSON; nesting deeper than this is no setting a person chose. */
export const MAX_OPTION_DEPTH = 16;

/** Whether `v` nests arrays or objects more than `limit` levels deep; a loop, so any depth is safe to ask about. */
function nestedDeeperThan(v: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[v, 0]];
  while (stack.length > 0) {
    const [x, depth] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    if (depth >= limit) return true;
    for (const child of Array.isArray(x) ? x : Object.values(x)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return false;
}

function validKernelChoice(v: unknown): boolean {
  if (!isObject(v)) return false;
  const strings = ['isa', 'gemm', 'source', 'cpu'].every((k) => typeof v[k] === 'string');
  const ms = v.measuredMs === undefined || (isObject(v.measuredMs) && Object.values(v.measuredMs).every((x) => typeof x === 'number'));
  return strings && typeof v.convRows === 'boolean' && ms && (v.measuredAt === undefined || typeof v.measuredAt === 'string');
}

function describeType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array with other values than strings' : `a ${typeof v}`;
}

function sections(at: string, v: unknown): ResultsSections {
  const o = object(at, v);
  const out: ResultsSections = { ...o };
  if (o.evaluation !== undefined) out.evaluation = evaluation(`${at}.evaluation`, o.evaluation);
  if (o.eigen !== undefined) out.eigen = eigen(`${at}.eigen`, o.eigen);
  if (o.trace !== undefined) out.trace = trace(`${at}.trace`, o.trace);
  if (o.density !== undefined) out.density = density(`${at}.density`, o.density);
  if (o.diagonal !== undefined) out.diagonal = diagonal(`${at}.diagonal`, o.diagonal);
  if (o.perLayer !== undefined) out.perLayer = perLayer(`${at}.perLayer`, o.perLayer);
  if (o.landscape !== undefined) out.landscape = landscape(`${at}.landscape`, o.landscape);
  if (o.training !== undefined) out.training = training(`${at}.training`, o.training);
  if (o.study !== undefined) out.study = study(`${at}.study`, o.study);
  return out;
}

/**
 * Checks that a parsed value is a hesse results object, loosely: the identifying fields and the
 * shapes the plots and tables rely on (arrays of numbers, matching lengths). Unknown extra fields
 * are kept. Missing bookkeeping (timings, products, samples) reads as empty. Throws
 * ResultsShapeProblem naming the first field that is wrong. What only describes the run and
 * cannot be shown (a command line that is not a list of strings, an option nested more than
 * MAX_OPTION_DEPTH levels deep) is left out instead, with a line saying so pushed to `skipped`.
 */
export function validateResults(value: unknown, skipped: string[] = []): HesseResults {
  const root = object('the top level', value);
  if (root.format !== undefined && root.format !== RESULTS_FORMAT) {
    throw new ResultsShapeProblem('format', `is ${JSON.stringify(root.format)}, not "${RESULTS_FORMAT}"`);
  }
  if (root.schemaVersion !== undefined) {
    const v = num('schemaVersion', root.schemaVersion);
    if (!(v >= 1 && v <= RESULTS_SCHEMA_VERSION)) {
      throw new ResultsShapeProblem('schemaVersion', `is ${v}; this hesse reads versions 1 to ${RESULTS_SCHEMA_VERSION} (upgrade hesse)`);
    }
  }
  const hesse = object('hesse', root.hesse);
  const inputs = root.inputs === undefined ? {} : object('inputs', root.inputs);
  const model = inputs.model === undefined ? {} : object('inputs.model', inputs.model);
  const data = inputs.data === undefined ? {} : object('inputs.data', inputs.data);
  const options = { ...(root.options === undefined ? {} : object('options', root.options)) };
  for (const [k, v] of Object.entries(options)) {
    if (nestedDeeperThan(v, MAX_OPTION_DEPTH)) {
      delete options[k];
      skipped.push(`options.${k}: nested more than ${MAX_OPTION_DEPTH} levels deep; left out of the report`);
    }
  }
  const { kernelChoice, ...hesseRest } = hesse;
  const choiceOk = kernelChoice === undefined || validKernelChoice(kernelChoice);
  if (!choiceOk) skipped.push(`hesse.kernelChoice: must name isa, gemm, source and cpu as strings and convRows as a boolean; the kernel choice is left out of the report`);
  const { argv, ...rest } = root;
  const argvOk = argv === undefined || (Array.isArray(argv) && argv.every((a) => typeof a === 'string'));
  if (!argvOk) skipped.push(`argv: must be a list of strings, got ${describeType(argv)}; the command line is left out of the report`);
  return {
    ...rest,
    ...(argvOk && argv !== undefined ? { argv } : {}),
    hesse: {
      ...hesseRest,
      ...(choiceOk && kernelChoice !== undefined ? { kernelChoice } : {}),
      version: string('hesse.version', hesse.version),
      kernels: string('hesse.kernels', hesse.kernels ?? 'unknown'),
    },
    command: string('command', root.command),
    createdAt: string('createdAt', root.createdAt ?? ''),
    inputs: {
      ...inputs,
      model: { ...model, description: string('inputs.model.description', model.description ?? 'unknown') },
      data: { ...data, description: string('inputs.data.description', data.description ?? 'unknown') },
      samples: numberRecord('inputs.samples', inputs.samples),
    },
    options: { ...options, seed: num('options.seed', options.seed ?? null) } as HesseResults['options'],
    timings: numberRecord('timings', root.timings),
    products: numberRecord('products', root.products),
    results: sections('results', root.results),
  } as HesseResults;
}

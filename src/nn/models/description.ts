/**
 * The one check of a model description, wherever it comes from (a checkpoint's metadata, --arch,
 * code): every field of the right type, and a parameter count that fits in memory, computed from
 * the sizes alone so that an impossible model is refused before anything is allocated.
 */
import { OptionError } from '../../errors.js';
import { activations, type Activation } from '../../ops/index.js';
import { describeModel, type BatchNormSetting, type MlpDescription, type ModelDescription, type ResNetDescription } from '../model.js';

/**
 * The most parameters a model may have: 2^28 float32 values are 1 GiB per parameter vector, and an
 * analysis holds several such vectors at once (the weights, a gradient, Lanczos or probe vectors),
 * so a larger model cannot be analysed on a machine with tens of GiB of memory.
 */
export const MAX_PARAMETERS = 2 ** 28;

type Obj = Record<string, unknown>;

const show = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : (JSON.stringify(v) ?? String(v)));

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
}

function onlyKeys(o: Obj, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new OptionError(`${what} has an unknown key '${k}' (its keys are ${allowed.join(', ')})`);
  }
}

/** Which parts keep batch norm, spelled out. */
export function bnFlags(s: BatchNormSetting): { stem: boolean; stages: [boolean, boolean, boolean] } {
  return typeof s === 'boolean' ? { stem: s, stages: [s, s, s] } : s;
}

/** The parameter count of a ResNet, from its sizes (float64 arithmetic, so huge sizes do not wrap). */
export function resnetParameterCount(d: ResNetDescription): number {
  const bn = bnFlags(d.batchNorm);
  const n = (d.depth - 2) / 6;
  const w = d.width;
  let count = 27 * w + (bn.stem ? 2 * w : 0);
  let cin = w;
  [w, 2 * w, 4 * w].forEach((c, stage) => {
    const bnHere = bn.stages[stage]!;
    // the first block of a stage may change the shape; the other n - 1 blocks are alike
    const first = 9 * cin * c + 9 * c * c + (bnHere ? 4 * c : 0) + (d.residual && (stage > 0 || cin !== c) ? cin * c + (bnHere ? 2 * c : 0) : 0);
    const rest = 9 * c * c + 9 * c * c + (bnHere ? 4 * c : 0);
    count += first + (n - 1) * rest;
    cin = c;
  });
  return count + cin * d.classes + d.classes;
}

export function mlpParameterCount(sizes: readonly number[]): number {
  let count = 0;
  for (let i = 1; i < sizes.length; i++) count += sizes[i - 1]! * sizes[i]! + sizes[i]!;
  return count;
}

export function parameterCount(d: ModelDescription): number {
  return d.arch === 'resnet' ? resnetParameterCount(d) : mlpParameterCount(d.sizes);
}

function checkFits(d: ModelDescription): void {
  const count = parameterCount(d);
  if (count > MAX_PARAMETERS) {
    throw new OptionError(
      `${describeModel(d)} would have ${count.toLocaleString('en-US')} parameters, more than the ${MAX_PARAMETERS.toLocaleString('en-US')} hesse can hold ` +
        `(1 GiB of float32 per parameter vector); choose a smaller ${d.arch === 'resnet' ? 'depth, width or number of classes' : 'layer size or fewer layers'}`,
    );
  }
}

function batchNormSetting(v: unknown): BatchNormSetting {
  if (typeof v === 'boolean') return v;
  if (isObject(v) && typeof v.stem === 'boolean' && Array.isArray(v.stages) && v.stages.length === 3 && v.stages.every((s) => typeof s === 'boolean')) {
    onlyKeys(v, ['stem', 'stages'], 'batchNorm');
    return { stem: v.stem, stages: [...v.stages] as [boolean, boolean, boolean] };
  }
  throw new OptionError(`batchNorm must be true, false or { "stem": boolean, "stages": [boolean, boolean, boolean] }, got ${show(v)}`);
}

/** Checks a ResNet description (sizes, switches, parameter count); throws OptionError naming the field. */
export function checkResNet(d: ResNetDescription): ResNetDescription {
  if (!positiveInteger(d.depth) || d.depth < 8 || (d.depth - 2) % 6 !== 0) {
    throw new OptionError(`ResNet depth must be 6n+2 with n ≥ 1 (8, 14, 20, 32, 38, 44, 56, 110, ...), got ${show(d.depth)}`);
  }
  if (!positiveInteger(d.width)) throw new OptionError(`ResNet width must be a positive integer, got ${show(d.width)}`);
  if (!positiveInteger(d.classes) || d.classes < 2) throw new OptionError(`the number of classes must be an integer ≥ 2, got ${show(d.classes)}`);
  const batchNorm = batchNormSetting(d.batchNorm);
  if (typeof d.residual !== 'boolean') throw new OptionError(`residual must be true or false, got ${show(d.residual)}`);
  const out: ResNetDescription = { arch: 'resnet', depth: d.depth, width: d.width, classes: d.classes, batchNorm, residual: d.residual };
  checkFits(out);
  return out;
}

/** Checks an MLP description (layer sizes, activation, parameter count); throws OptionError naming the field. */
export function checkMlp(d: MlpDescription): MlpDescription {
  if (!Array.isArray(d.sizes) || d.sizes.length < 2 || !d.sizes.every(positiveInteger)) {
    throw new OptionError(`an MLP needs sizes: a list of at least two positive integer layer sizes, got ${show(d.sizes)}`);
  }
  if (typeof d.activation !== 'string' || !Object.hasOwn(activations, d.activation)) {
    throw new OptionError(`unknown activation ${show(d.activation)} (choose ${Object.keys(activations).join(', ')})`);
  }
  const out: MlpDescription = { arch: 'mlp', sizes: [...d.sizes], activation: d.activation as Activation };
  checkFits(out);
  return out;
}

const RESNET_KEYS = ['arch', 'depth', 'width', 'classes', 'batchNorm', 'residual'] as const;
const MLP_KEYS = ['arch', 'sizes', 'activation'] as const;

/**
 * A model description from untrusted JSON (a checkpoint's metadata, --arch): the known keys only,
 * each of the right type, with the defaults of `resnet()` and `mlp()` for the optional ones.
 */
export function validateDescription(value: unknown): ModelDescription {
  if (!isObject(value)) throw new OptionError(`a model description must be a JSON object with an "arch", got ${show(value)}`);
  switch (value.arch) {
    case 'resnet':
      onlyKeys(value, RESNET_KEYS, 'a ResNet description');
      return checkResNet({ width: 16, classes: 10, batchNorm: true, residual: true, ...value } as ResNetDescription);
    case 'mlp':
      onlyKeys(value, MLP_KEYS, 'an MLP description');
      return checkMlp({ activation: 'relu', ...value } as MlpDescription);
    default:
      throw new OptionError(`unknown architecture ${show(value.arch)} (known: resnet, mlp)`);
  }
}

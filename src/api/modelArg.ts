import { OptionError } from '../errors.js';
import { loadModel } from '../io/checkpoint.js';
import { describeModel, validateDescription, type BatchNormSetting, type ModelDescription } from '../nn/index.js';

/** Parses which parts of a ResNet keep batch norm: "stem,1,2,3" (any subset; "none" for none). */
export function parseBnStages(s: string): BatchNormSetting {
  const parts = s.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 1 && parts[0] === 'none') return false;
  for (const p of parts) if (!['stem', '1', '2', '3'].includes(p)) throw new OptionError(`the batch-norm stages are a list of stem, 1, 2, 3 (or none), got '${p}'`);
  const stem = parts.includes('stem');
  const stages = (['1', '2', '3'] as const).map((x) => parts.includes(x)) as [boolean, boolean, boolean];
  return stem && stages.every(Boolean) ? true : { stem, stages };
}

/**
 * An architecture on the command line: JSON, or a shorthand such as `resnet20`, `resnet32-nobn`,
 * `resnet20-nores-w8-c100`, `resnet56-bn:stem,1`, `mlp:784-100-10:tanh`.
 */
export function parseArch(s: string): ModelDescription {
  if (s.trim().startsWith('{')) {
    let json: unknown;
    try {
      json = JSON.parse(s);
    } catch {
      throw new OptionError(`the architecture is not valid JSON: ${s}`);
    }
    return checkedArch(json, s);
  }
  const mlp = /^mlp:([\d-]+)(?::(\w+))?$/.exec(s);
  if (mlp) {
    const sizes = mlp[1]!.split('-').map(Number);
    return checkedArch({ arch: 'mlp', sizes, activation: mlp[2] ?? 'relu' }, s);
  }
  const m = /^resnet(\d+)((?:-[\w:,]+)*)$/.exec(s);
  if (!m) throw new OptionError(`unknown architecture '${s}': use resnetDEPTH[-nobn][-nores][-wWIDTH][-cCLASSES][-bn:stem,1,2,3] or mlp:SIZES[:ACTIVATION]`);
  const d: ModelDescription = { arch: 'resnet', depth: Number(m[1]), width: 16, classes: 10, batchNorm: true, residual: true };
  for (const opt of (m[2] ?? '').split('-').filter(Boolean)) {
    if (opt === 'nobn') d.batchNorm = false;
    else if (opt === 'nores') d.residual = false;
    else if (/^w\d+$/.test(opt)) d.width = Number(opt.slice(1));
    else if (/^c\d+$/.test(opt)) d.classes = Number(opt.slice(1));
    else if (opt.startsWith('bn:')) d.batchNorm = parseBnStages(opt.slice(3));
    else throw new OptionError(`unknown architecture option '-${opt}' in '${s}'`);
  }
  return checkedArch(d, s);
}

function checkedArch(d: unknown, s: string): ModelDescription {
  try {
    return validateDescription(d);
  } catch (e) {
    if (e instanceof OptionError) throw new OptionError(`the architecture '${s}': ${e.message}`);
    throw e;
  }
}

/** Loads a model file, with the architecture from its metadata, from `arch`, or inferred. */
export async function loadModelArg(path: string, arch?: string) {
  const loaded = await loadModel(path, arch ? { arch: parseArch(arch) } : {});
  return {
    ...loaded,
    description: `${describeModel(loaded.model.description)}, ${loaded.model.size.toLocaleString('en-US')} parameters`,
  };
}

import { FileFormatError, OptionError } from '../errors.js';
import { normalizationFrom, type Normalization } from '../data/index.js';
import { buildModel, describeModel, validateDescription, type AnyModelDescription, type Model, type ModelDescription } from '../nn/index.js';
import { loadOnnx, type OnnxLoadOptions } from './onnx.js';
import { readSafetensors, writeSafetensors, type StoredTensor, type TensorToWrite } from './safetensors.js';

/** The metadata key under which hesse stores the model description (JSON). */
export const MODEL_METADATA_KEY = 'hesse.model';
/** The metadata key for the input normalisation a model was trained with (JSON; null for raw pixels). */
export const NORMALIZATION_METADATA_KEY = 'hesse.normalization';

/**
 * The model's state dict under PyTorch's names and order, num_batches_tracked included, so that
 * PyTorch's load_state_dict(strict=True) accepts the file.
 */
export function stateDict(model: Model): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const entry of model.stateOrder) {
    if (entry.type === 'param') {
      const t = model.param(entry.name);
      out[entry.name] = { dtype: 'F32', shape: t.shape, data: t.data };
    } else {
      const t = model.buffers.get(entry.name)!;
      out[entry.name] = { dtype: 'F32', shape: t.shape, data: t.data };
      if (entry.name.endsWith('.running_var')) {
        const layer = entry.name.slice(0, -'.running_var'.length);
        out[`${layer}.num_batches_tracked`] = { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(model.batchesTracked)) };
      }
    }
  }
  return out;
}

export interface LoadOptions {
  /** keys to leave alone (other content sharing the file, e.g. optimiser state) */
  ignore?: (key: string) => boolean;
}

/**
 * Copies a state dict into `model`. Every missing, unexpected and wrongly shaped key is reported
 * in one error; PyTorch's num_batches_tracked is accepted (its largest value is kept).
 */
export function loadStateDict(model: Model, tensors: ReadonlyMap<string, StoredTensor>, source: string, opts: LoadOptions = {}): void {
  const expected = new Map<string, readonly number[]>();
  for (const e of model.stateOrder) expected.set(e.name, e.type === 'param' ? model.param(e.name).shape : model.buffers.get(e.name)!.shape);
  const missing: string[] = [];
  const unexpected: string[] = [];
  const wrongShape: string[] = [];
  const wrongType: string[] = [];
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) missing.push(name);
    else if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      wrongShape.push(`${name} (file [${t.shape.join(', ')}], model [${shape.join(', ')}])`);
    } else if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) wrongType.push(`${name} (${t.dtype})`);
  }
  let tracked = 0;
  for (const [name, t] of tensors) {
    if (expected.has(name) || opts.ignore?.(name)) continue;
    if (name.endsWith('.num_batches_tracked')) {
      if (t.data.length === 1) tracked = Math.max(tracked, Number(t.data[0]));
      continue;
    }
    unexpected.push(name);
  }
  // a file of another architecture can miss thousands of keys: name the first few of each kind
  const list = (names: string[], sep: string) => (names.length > 8 ? `${names.slice(0, 8).join(sep)}${sep}… (${names.length} in all)` : names.join(sep));
  const problems = [
    missing.length ? `missing keys: ${list(missing, ', ')}` : '',
    unexpected.length ? `unexpected keys: ${list(unexpected, ', ')}` : '',
    wrongShape.length ? `wrong shapes: ${list(wrongShape, '; ')}` : '',
    wrongType.length ? `not floating point: ${list(wrongType, ', ')}` : '',
  ].filter(Boolean);
  if (problems.length) {
    throw new FileFormatError(`${source} does not fit ${describeModel(model.description)}: ${problems.join('; ')}. Check the architecture options (--arch) or the file.`);
  }
  for (const e of model.stateOrder) {
    const t = tensors.get(e.name)!;
    const target = e.type === 'param' ? model.param(e.name).data : model.buffers.get(e.name)!.data;
    target.set(t.data as Float32Array | Float64Array);
  }
  model.batchesTracked = tracked;
}

/**
 * Infers a model description from the names and shapes of a state dict (a file saved by PyTorch
 * carries no hesse metadata): depth from the number of blocks, width from conv1.weight, BN from
 * bn* keys (per stage), residuals from downsample keys, classes from fc.weight; an MLP from layers.*.
 */
export function inferDescription(tensors: ReadonlyMap<string, StoredTensor>, source: string): { description: ModelDescription; notes: string[] } {
  const shape = (k: string) => tensors.get(k)?.shape;
  if (shape('conv1.weight') && shape('fc.weight')) {
    const width = shape('conv1.weight')![0]!;
    const classes = shape('fc.weight')![0]!;
    const blocks = [...tensors.keys()].filter((k) => /^layer1\.\d+\.conv1\.weight$/.test(k)).length;
    if (blocks === 0) throw new FileFormatError(`${source}: looks like a ResNet (conv1, fc) but has no layer1.* blocks`);
    const stem = tensors.has('bn1.weight');
    const stages = [1, 2, 3].map((s) => [...tensors.keys()].some((k) => k.startsWith(`layer${s}.`) && /\.bn\d\.weight$/.test(k))) as [boolean, boolean, boolean];
    const all = stem && stages.every(Boolean);
    const none = !stem && !stages.some(Boolean);
    const batchNorm = all ? true : none ? false : { stem, stages };
    const residual = [...tensors.keys()].some((k) => k.includes('.downsample.'));
    const description: ModelDescription = { arch: 'resnet', depth: 6 * blocks + 2, width, classes, batchNorm, residual };
    return { description, notes: [`inferred ${describeModel(description)} from the parameter names and shapes`] };
  }
  const layerKeys = [...tensors.keys()].filter((k) => /^layers\.\d+\.weight$/.test(k));
  if (layerKeys.length > 0) {
    const ws = layerKeys.map((k) => ({ i: Number(k.split('.')[1]), s: shape(k)! })).sort((a, b) => a.i - b.i);
    const sizes = [ws[0]!.s[1]!, ...ws.map((w) => w.s[0]!)];
    const description: ModelDescription = { arch: 'mlp', sizes, activation: 'relu' };
    return {
      description,
      notes: [`inferred ${describeModel(description)} from the parameter names; the activation cannot be read from weights, so ReLU is assumed (override with --arch)`],
    };
  }
  throw new FileFormatError(`${source}: cannot tell the architecture from its keys (expected conv1/layer*/fc for a ResNet or layers.* for an MLP); pass --arch`);
}

/** Reads JSON metadata; `key` and `source` name it in the error. */
function metadataJson(json: string, key: string, source: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    throw new FileFormatError(`${source}: the '${key}' metadata is not valid JSON (${JSON.stringify(json.length > 60 ? `${json.slice(0, 60)}…` : json)}); rewrite it or remove it`);
  }
}

/** The model description stored in a file's metadata, checked field by field before anything is built. */
export function parseDescription(json: string, source: string): AnyModelDescription {
  const value = metadataJson(json, MODEL_METADATA_KEY, source);
  // an imported graph saved by hesse: the graph is its own description, checked when it is built
  if (value && typeof value === 'object' && (value as { arch?: unknown }).arch === 'onnx') return value as AnyModelDescription;
  try {
    return validateDescription(value);
  } catch (e) {
    if (e instanceof OptionError) throw new FileFormatError(`${source}: the '${MODEL_METADATA_KEY}' metadata: ${e.message} (or pass --arch to override it)`);
    throw e;
  }
}

/** The input normalisation stored in a file's metadata: absent (undefined), null for raw pixels, or per-channel mean and std. */
export function parseNormalizationMetadata(metadata: Record<string, string>, source: string): Normalization | null | undefined {
  const raw = metadata[NORMALIZATION_METADATA_KEY];
  if (raw === undefined) return undefined;
  try {
    return normalizationFrom(metadataJson(raw, NORMALIZATION_METADATA_KEY, source));
  } catch (e) {
    if (e instanceof OptionError) throw new FileFormatError(`${source}: the '${NORMALIZATION_METADATA_KEY}' metadata: ${e.message}`);
    throw e;
  }
}

export interface SaveOptions {
  /** further tensors stored beside the state dict (e.g. optimiser state under 'optimizer.*') */
  extra?: Record<string, TensorToWrite>;
  metadata?: Record<string, string>;
}

/** Writes the state dict and the model description (in the metadata) to a safetensors file, atomically. */
export async function saveModel(path: string, model: Model, opts: SaveOptions = {}): Promise<void> {
  const tensors = { ...stateDict(model), ...(opts.extra ?? {}) };
  await writeSafetensors(path, tensors, { format: 'pt', ...(opts.metadata ?? {}), [MODEL_METADATA_KEY]: JSON.stringify(model.description) });
}

export interface LoadedModel {
  model: Model;
  /** how the architecture was found, for the user to read */
  notes: string[];
  /** the normalisation the model was trained with (null: raw pixels); undefined when the file does not say */
  normalization: Normalization | null | undefined;
  metadata: Record<string, string>;
  tensors: ReadonlyMap<string, StoredTensor>;
}

/**
 * Rebuilds a model from a safetensors file: the description from hesse's metadata, else `arch`,
 * else inferred from the names and shapes; then loads the weights with every key checked.
 * A `.onnx` file is imported instead (its graph is its architecture).
 */
export async function loadModel(path: string, opts: LoadOptions & OnnxLoadOptions & { arch?: ModelDescription } = {}): Promise<LoadedModel> {
  if (path.toLowerCase().endsWith('.onnx')) {
    if (opts.arch) throw new OptionError(`${path} is an ONNX graph, which carries its own architecture; leave out the architecture option (--arch)`);
    return loadOnnx(path, opts);
  }
  const file = await readSafetensors(path);
  const normalization = parseNormalizationMetadata(file.metadata, path);
  let description: AnyModelDescription;
  let notes: string[] = [];
  if (opts.arch) {
    description = opts.arch;
    notes.push(`using the given architecture ${describeModel(description)}`);
  } else if (file.metadata[MODEL_METADATA_KEY]) {
    description = parseDescription(file.metadata[MODEL_METADATA_KEY]!, path);
  } else {
    ({ description, notes } = inferDescription(file.tensors, path));
  }
  let model: Model;
  try {
    model = buildModel(description);
  } catch (e) {
    if (e instanceof OptionError && !opts.arch) throw new FileFormatError(`${path}: ${e.message}`);
    throw e;
  }
  loadStateDict(model, file.tensors, path, opts);
  return { model, notes, normalization, metadata: file.metadata, tensors: file.tensors };
}

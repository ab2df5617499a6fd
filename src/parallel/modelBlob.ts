import { createHash } from 'node:crypto';
import { FileFormatError, OptionError } from '../errors.js';
import { loadStateDict, MODEL_METADATA_KEY, parseDescription, stateDict } from '../io/checkpoint.js';
import { encodeSafetensors, parseSafetensors } from '../io/safetensors.js';
import { buildModel, type Model } from '../nn/index.js';

/** A model's architecture and weights (parameters and buffers) as one safetensors image, named by its hash. */
export interface ModelBlob {
  bytes: Uint8Array;
  /** sha256 of `bytes`, hex: workers cache models by it */
  hash: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function encodeModelBlob(model: Model): ModelBlob {
  const bytes = encodeSafetensors(stateDict(model), { format: 'pt', [MODEL_METADATA_KEY]: JSON.stringify(model.description) });
  return { bytes, hash: sha256Hex(bytes) };
}

/**
 * Rebuilds the model a blob holds. With `hash`, the bytes must hash to it: a worker never runs a
 * model that is not the one the job names.
 */
export function decodeModelBlob(bytes: Uint8Array, source: string, hash?: string): Model {
  if (hash !== undefined && sha256Hex(bytes) !== hash) throw new FileFormatError(`${source}: the model bytes do not match their sha256 ${hash.slice(0, 12)}…`);
  const file = parseSafetensors(bytes, source);
  const json = file.metadata[MODEL_METADATA_KEY];
  if (!json) throw new FileFormatError(`${source}: no '${MODEL_METADATA_KEY}' metadata (the model description)`);
  const description = parseDescription(json, source);
  let model: Model;
  try {
    model = buildModel(description);
  } catch (e) {
    if (e instanceof OptionError) throw new FileFormatError(`${source}: ${e.message}`);
    throw e;
  }
  loadStateDict(model, file.tensors, source);
  return model;
}

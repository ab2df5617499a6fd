/**
 * Training checkpoints as safetensors: the model's state dict under PyTorch's names (so the file
 * also loads as a plain model), the momentum buffer as 'optimizer.momentum_buffer', and the rest
 * of the training state (position, history, settings) as JSON in the metadata.
 */
import { FileFormatError, OptionError } from '../errors.js';
import type { Model } from '../nn/index.js';
import { validateResumeState, type ResumeState, type TrainCheckpointer, type TrainState } from '../train/index.js';
import { loadModel, NORMALIZATION_METADATA_KEY, saveModel } from './checkpoint.js';
import type { TensorToWrite } from './safetensors.js';

export const TRAIN_METADATA_KEY = 'hesse.train';
const MOMENTUM_KEY = 'optimizer.momentum_buffer';
const FORMAT_VERSION = 1;

/** Writes `state` to `path` atomically (a crash mid-write leaves the previous file). */
export async function saveTrainState(path: string, state: TrainState): Promise<void> {
  const { model, optimizer, ...rest } = state;
  const extra: Record<string, TensorToWrite> = {};
  if (optimizer.momentumBuffer) extra[MOMENTUM_KEY] = { dtype: 'F32', shape: [optimizer.momentumBuffer.length], data: optimizer.momentumBuffer };
  const meta = { version: FORMAT_VERSION, optimizerSteps: optimizer.steps, ...rest };
  await saveModel(path, model, { extra, metadata: { [TRAIN_METADATA_KEY]: JSON.stringify(meta), [NORMALIZATION_METADATA_KEY]: JSON.stringify(state.config.normalize) } });
}

export interface LoadedTrainState {
  /** rebuilt from the file's description, holding its weights, BN buffers and batch count */
  model: Model;
  resume: ResumeState;
}

/** Reads a checkpoint written by saveTrainState, ready for train(model, { resumeFrom: resume }). */
export async function loadTrainState(path: string): Promise<LoadedTrainState> {
  const { model, metadata, tensors } = await loadModel(path, { ignore: (k) => k.startsWith('optimizer.') });
  const raw = metadata[TRAIN_METADATA_KEY];
  if (!raw) throw new FileFormatError(`${path} holds a model but no training state (no '${TRAIN_METADATA_KEY}' metadata); it cannot be resumed, only loaded as a model`);
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    throw new FileFormatError(`${path}: the '${TRAIN_METADATA_KEY}' metadata is not valid JSON`);
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new FileFormatError(`${path}: the '${TRAIN_METADATA_KEY}' metadata is ${JSON.stringify(meta)}, not an object`);
  if (meta.version !== FORMAT_VERSION) throw new FileFormatError(`${path}: training-state format version ${String(meta.version)} is not supported (expected ${FORMAT_VERSION})`);
  const buf = tensors.get(MOMENTUM_KEY);
  if (buf && !(buf.data instanceof Float32Array && buf.data.length === model.size)) {
    throw new FileFormatError(`${path}: '${MOMENTUM_KEY}' must be F32 with ${model.size} values (one per parameter), got ${buf.dtype} with ${buf.data.length}`);
  }
  const { version: _version, optimizerSteps, ...rest } = meta;
  let resume: ResumeState;
  try {
    resume = validateResumeState({ ...rest, optimizer: { momentumBuffer: buf ? buf.data : null, steps: optimizerSteps } });
  } catch (e) {
    if (e instanceof OptionError) {
      throw new FileFormatError(`${path}: the '${TRAIN_METADATA_KEY}' metadata is damaged: ${e.message}; resume from an intact checkpoint or start a fresh run`);
    }
    throw e;
  }
  return { model, resume };
}

/** A checkpointer that keeps one file, replaced atomically after every epoch. */
export function checkpointFile(path: string): TrainCheckpointer {
  return { save: (state) => saveTrainState(path, state) };
}

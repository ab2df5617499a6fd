/**
 * Training checkpoints as safetensors: the model's state dict under PyTorch's names (so the file
 * also loads as a plain model), the momentum buffer as 'optimizer.momentum_buffer', and the rest
 * of the training state (position, history, settings) as JSON in the metadata.
 */
import { FileFormatError } from '../errors.js';
import type { Model } from '../nn/index.js';
import type { ResumeState, TrainCheckpointer, TrainState } from '../train/index.js';
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
  if (meta.version !== FORMAT_VERSION) throw new FileFormatError(`${path}: training-state format version ${String(meta.version)} is not supported (expected ${FORMAT_VERSION})`);
  for (const k of ['epoch', 'step', 'optimizerSteps', 'lrScale']) {
    if (typeof meta[k] !== 'number') throw new FileFormatError(`${path}: the training state has no numeric '${k}'`);
  }
  if (!Array.isArray(meta.history) || typeof meta.partial !== 'object' || typeof meta.config !== 'object') {
    throw new FileFormatError(`${path}: the training state lacks its history, epoch sums or settings`);
  }
  const buf = tensors.get(MOMENTUM_KEY);
  if (buf && !(buf.data instanceof Float32Array && buf.data.length === model.size)) {
    throw new FileFormatError(`${path}: '${MOMENTUM_KEY}' must be F32 with ${model.size} values (one per parameter), got ${buf.dtype} with ${buf.data.length}`);
  }
  const resume: ResumeState = {
    epoch: meta.epoch as number,
    step: meta.step as number,
    optimizer: { momentumBuffer: buf ? (buf.data as Float32Array) : null, steps: meta.optimizerSteps as number },
    partial: meta.partial as ResumeState['partial'],
    history: meta.history as ResumeState['history'],
    lrScale: meta.lrScale as number,
    config: meta.config as ResumeState['config'],
  };
  return { model, resume };
}

/** A checkpointer that keeps one file, replaced atomically after every epoch. */
export function checkpointFile(path: string): TrainCheckpointer {
  return { save: (state) => saveTrainState(path, state) };
}

import { join } from 'node:path';
import type { Dataset, Normalization } from '../data/index.js';
import { OptionError } from '../errors.js';
import { checkpointFile, loadTrainState, NORMALIZATION_METADATA_KEY, saveModel } from '../io/index.js';
import type { Model } from '../nn/index.js';
import { makeFolder } from '../report/outputFolder.js';
import type { HesseResults, JsonValue, TrainingResult } from '../report/results.js';
import { train, type EpochRecord, type StepProgress, type TrainOptions } from '../train/index.js';
import { commandResults, type RunRecordOptions } from './commandResults.js';

export interface TrainRunOptions extends Omit<TrainOptions, 'trainSet' | 'testSet' | 'checkpoint' | 'resumeFrom' | 'normalize'>, RunRecordOptions {
  trainSet: Dataset;
  testSet?: Dataset;
  normalize: Normalization | null;
  /** the run's folder: checkpoint.safetensors after every epoch, model.safetensors at the end */
  out: string;
  /** continue from this checkpoint (the model is rebuilt from it) */
  resume?: string;
}

export function trainingSection(history: readonly EpochRecord[]): TrainingResult {
  return {
    epochs: history.map((e) => {
      const r: TrainingResult['epochs'][number] = { epoch: e.epoch + 1, trainLoss: e.trainLoss, trainAcc: e.trainAccuracy, lr: e.lr, seconds: e.seconds };
      if (e.testLoss !== undefined) r.testLoss = e.testLoss;
      if (e.testAccuracy !== undefined) r.testAcc = e.testAccuracy;
      return r;
    }),
  };
}

/**
 * Trains `model` (or the model of the checkpoint to resume) with a checkpoint after every epoch,
 * and writes the final weights with their normalisation, so analyze reads the data the same way.
 * The results hold the training history and the settings used (defaults filled in).
 */
export async function trainRun(model: Model | undefined, o: TrainRunOptions) {
  await makeFolder(o.out);
  const checkpointPath = join(o.out, 'checkpoint.safetensors');
  let resumeFrom;
  if (o.resume) {
    const loaded = await loadTrainState(o.resume);
    model = loaded.model;
    resumeFrom = loaded.resume;
  }
  if (!model) throw new OptionError('training needs a model, or a checkpoint to resume');
  const { out: _out, resume: _resume, inputs, commandLine, ...rest } = o;
  const r = await train(model, { ...rest, checkpoint: checkpointFile(checkpointPath), ...(resumeFrom ? { resumeFrom } : {}) });
  const modelPath = join(o.out, 'model.safetensors');
  await saveModel(modelPath, model, { metadata: { [NORMALIZATION_METADATA_KEY]: JSON.stringify(o.normalize) } });
  const { trainSet: _t, normalize: _n, ...config } = r.state.config;
  const results: HesseResults = commandResults('train', { model, dataset: o.trainSet, inputs: { ...inputs, model: { ...inputs?.model, file: modelPath } }, ...(commandLine ? { commandLine } : {}) }, {
    samples: { train: o.trainSet.length, ...(o.testSet ? { test: o.testSet.length } : {}) },
    options: config as unknown as Record<string, JsonValue> & { seed: number },
    timings: { train: r.history.reduce((s, e) => s + e.seconds * 1000, 0) },
    sections: { training: trainingSection(r.history) },
    interrupted: !r.completed,
  });
  return { ...r, model, modelPath, checkpointPath, results };
}

export type { StepProgress };

import { TensorSet, type AnyDataset } from '../data/index.js';
import { kernelsForResults } from '../kernels/index.js';
import { describeModel, type Model } from '../nn/index.js';
import { createResults, type HesseResults } from '../report/index.js';
import { sampleSummary } from './dataArg.js';
import type { DataDescription, ModelDescription, ResultsOptions, ResultsSections } from '../report/results.js';

/** How the results describe a run's model and data (a file, a source); what is not given is described from the objects. */
export interface InputsDescription {
  model?: Partial<ModelDescription>;
  data?: Partial<DataDescription>;
}

/** What every operation gives the results besides its sections. */
export interface RunRecordOptions {
  /** how the results describe the model and the data */
  inputs?: InputsDescription;
  /** the command line, stored in the results with any credential in a URL replaced by *** */
  commandLine?: readonly string[];
}


export function modelDescription(model: Model, given: Partial<ModelDescription> = {}): ModelDescription {
  return { description: `${describeModel(model.description)}, ${model.size.toLocaleString('en-US')} parameters`, parameters: model.size, ...given };
}

export function dataDescription(dataset: AnyDataset, given: Partial<DataDescription> = {}): DataDescription {
  return { description: `${dataset.name}: ${sampleSummary(dataset)}`, ...(dataset instanceof TensorSet ? {} : { classes: dataset.classes }), ...given };
}

/** The split a dataset was read from, when it has one (CIFAR and the synthetic set; not a tensor file). */
export function splitOf(dataset: AnyDataset): 'train' | 'test' | undefined {
  const spec = dataset.spec;
  return spec && 'split' in spec ? spec.split : undefined;
}

/** What an operation computed, for its results object. */
export interface CommandOutcome {
  samples: Record<string, number>;
  options: ResultsOptions;
  timings?: Record<string, number>;
  products?: Record<string, number>;
  sections: ResultsSections;
  interrupted?: boolean;
  failed?: { stage: string; message: string };
}

/** The results object of an operation: kernels, inputs, the command line (redacted) and what was computed. */
export function commandResults(command: string, run: RunRecordOptions & { model: Model; dataset: AnyDataset }, outcome: CommandOutcome): HesseResults {
  const results = createResults({
    command,
    ...kernelsForResults(),
    ...(run.commandLine ? { argv: run.commandLine } : {}),
    inputs: { model: modelDescription(run.model, run.inputs?.model), data: dataDescription(run.dataset, run.inputs?.data), samples: outcome.samples },
    options: outcome.options,
    timings: outcome.timings ?? {},
    products: outcome.products ?? {},
    results: outcome.sections,
  });
  if (outcome.interrupted) results.interrupted = true;
  if (outcome.failed) results.failed = outcome.failed;
  return results;
}

import type { HesseResults, ResultsInputs, ResultsKernelChoice, ResultsOptions, ResultsSections } from './results.js';
import { RESULTS_FORMAT, RESULTS_SCHEMA_VERSION } from './results.js';
import { redactCredentials } from '../parallel/redisUrl.js';
import { hesseVersion } from './version.js';

export interface NewResults {
  command: string;
  /** How the caller describes the kernels in use ('native (openblas)', 'reference'). */
  kernels: string;
  /** how the native kernels were chosen (measured, stored, default, environment) */
  kernelChoice?: ResultsKernelChoice;
  inputs: ResultsInputs;
  options: ResultsOptions;
  /** the command line; every URL's password is replaced by *** before it is stored */
  argv?: readonly string[];
  timings?: Record<string, number>;
  products?: Record<string, number>;
  results?: ResultsSections;
  createdAt?: Date;
}

/** A results object with the bookkeeping filled in: version, runtime, time stamp, empty tallies. */
export function createResults(init: NewResults): HesseResults {
  const out: HesseResults = {
    format: RESULTS_FORMAT,
    schemaVersion: RESULTS_SCHEMA_VERSION,
    hesse: { version: hesseVersion(), kernels: init.kernels, node: process.version, platform: `${process.platform}-${process.arch}` },
    command: init.command,
    createdAt: (init.createdAt ?? new Date()).toISOString(),
    inputs: init.inputs,
    options: init.options,
    timings: init.timings ?? {},
    products: init.products ?? {},
    results: init.results ?? {},
  };
  if (init.kernelChoice) out.hesse.kernelChoice = init.kernelChoice;
  if (init.argv) out.argv = init.argv.map(redactCredentials);
  return out;
}

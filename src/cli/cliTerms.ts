/**
 * The library's errors and events name options and say what to do in words; here the CLI says
 * which flag or command does it, on the messages it prints.
 */
import { NO_DATASET_ROOTS, NoWorkersError } from '../parallel/index.js';

/** A library line with the flags of hesse's commands added where it names an option. */
export function inCliTerms(text: string): string {
  return text.split(NO_DATASET_ROOTS).join(`${NO_DATASET_ROOTS} (--dataset-root DIR)`);
}

/** The message of a user's error as the CLI prints it. */
export function cliMessage(e: Error): string {
  const text = inCliTerms(e.message);
  if (e instanceof NoWorkersError) return `${text} (hesse ${e.workers === 'study' ? 'study-worker' : 'worker'} --redis URL --run ${e.runName})`;
  return text;
}

import { HesseError } from '../errors.js';

/**
 * A cluster run that cannot go on: Redis unreachable, no worker within the timeout, a job that
 * failed on every attempt. The message never holds credentials.
 */
export class ClusterError extends HesseError {}

/** A job a worker refused: it names what was wrong, and is not retried. */
export class JobRejectedError extends HesseError {}

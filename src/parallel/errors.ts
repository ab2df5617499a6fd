import { HesseError } from '../errors.js';

/**
 * A cluster run that cannot go on: Redis unreachable, no worker within the timeout, a job that
 * failed on every attempt. The message never holds credentials.
 */
export class ClusterError extends HesseError {}

/**
 * No worker served the run within the timeout. It carries the run's name and the Redis server
 * (without password), so that a caller can say in its own words how to start workers for it.
 */
export class NoWorkersError extends ClusterError {
  constructor(
    message: string,
    readonly runName: string,
    readonly url: string,
    /** which workers the run waits for: shard workers (products) or study workers (whole variants) */
    readonly workers: 'shard' | 'study' = 'shard',
  ) {
    super(message);
  }
}

/** A job a worker refused: it names what was wrong, and is not retried. */
export class JobRejectedError extends HesseError {}

/**
 * A cluster run stopped by its caller's AbortSignal (Ctrl-C): named 'AbortError', as the
 * platform's own aborts are, so code that tells a stop from a failure by name sees a stop.
 */
export class ClusterAbortedError extends ClusterError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = 'AbortError';
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

/** The error of a cluster run its signal stopped. */
export function abortedRun(signal: AbortSignal): ClusterAbortedError {
  return new ClusterAbortedError('the cluster run was stopped before its products finished', { cause: signal.reason });
}

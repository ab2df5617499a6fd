/**
 * The entry of a study worker process (see studyProcesses.ts): it receives one run, runs it in the
 * run's folder, and reports events and writes to its parent. It stops cleanly (checkpoint kept)
 * on the parent's 'stop', on SIGINT or SIGTERM, and when the parent goes away.
 */
import { HesseError } from '../errors.js';
import { openStudyData } from './studyData.js';
import type { FromChild, ToChild } from './studyProcesses.js';
import { runStudyRun } from './studyRun.js';

const stop = new AbortController();
let waiting: (() => void) | undefined;

const send = (m: FromChild) =>
  new Promise<void>((resolve) => {
    if (!process.connected) return resolve();
    process.send!(m, undefined, undefined, () => resolve());
  });

process.on('SIGINT', () => stop.abort());
process.on('SIGTERM', () => stop.abort());
process.on('disconnect', () => {
  // the parent is gone: nobody to ship the files or read the result; the checkpoint on disk stays
  stop.abort();
  waiting?.();
  setTimeout(() => process.exit(1), 2000).unref();
});

process.on('message', (m: ToChild) => {
  if (m.type === 'stop') stop.abort();
  else if (m.type === 'ack') {
    const w = waiting;
    waiting = undefined;
    w?.();
  } else if (m.type === 'run') void run(m);
});

async function run(m: Extract<ToChild, { type: 'run' }>): Promise<void> {
  try {
    const data = await openStudyData(m.settings);
    const result = await runStudyRun(m.dir, m.settings, m.run, data, {
      signal: stop.signal,
      workers: 1,
      ...(m.worker ? { worker: m.worker } : {}),
      onEvent: (event) => void send({ type: 'event', event }),
      onSaved: async () => {
        if (!process.connected) return;
        const acked = new Promise<void>((resolve) => (waiting = resolve));
        await send({ type: 'saved' });
        await acked;
      },
    });
    await send({ type: 'finished', stopped: result === undefined });
    process.exit(0);
  } catch (e) {
    await send({ type: 'error', message: e instanceof Error ? e.message : String(e), userError: e instanceof HesseError });
    process.exit(1);
  }
}

/**
 * The entry of a study worker process (see studyProcesses.ts): it receives runs one at a time,
 * runs each in the run's folder, and reports events and writes to its parent. It stops the run
 * cleanly (checkpoint kept) on the parent's 'stop', on SIGINT or SIGTERM, and when the parent goes
 * away; it keeps the data it opened for the next run of the same study.
 */
import { HesseError } from '../errors.js';
import { openStudyData, type StudyData } from './studyData.js';
import type { FromChild, ToChild } from './studyProcesses.js';
import { runStudyRun } from './studyRun.js';
import type { StudySettings } from './studySettings.js';

let stop = new AbortController();
let stopping = false;
let waiting: (() => void) | undefined;
let opened: { key: string; data: Promise<StudyData> } | undefined;

function dataOf(s: StudySettings): Promise<StudyData> {
  const key = JSON.stringify([s.data, s.trainSamples, s.testSamples, s.imageSize]);
  if (opened?.key !== key) opened = { key, data: openStudyData(s) };
  return opened.data;
}

const send = (m: FromChild) =>
  new Promise<void>((resolve) => {
    if (!process.connected) return resolve();
    process.send!(m, undefined, undefined, () => resolve());
  });

const stopAll = () => {
  stopping = true;
  stop.abort();
};
process.on('SIGINT', stopAll);
process.on('SIGTERM', stopAll);
process.on('disconnect', () => {
  // the parent is gone: nobody to ship the files or read the result; the checkpoint on disk stays
  stopAll();
  waiting?.();
  setTimeout(() => process.exit(1), 2000).unref();
});

process.on('message', (m: ToChild) => {
  if (m.type === 'stop') stopAll();
  else if (m.type === 'exit') process.exit(0);
  else if (m.type === 'ack') {
    const w = waiting;
    waiting = undefined;
    w?.();
  } else if (m.type === 'run') void run(m);
});

async function run(m: Extract<ToChild, { type: 'run' }>): Promise<void> {
  if (!stopping) stop = new AbortController();
  try {
    const data = await dataOf(m.settings);
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
  } catch (e) {
    await send({ type: 'error', message: e instanceof Error ? e.message : String(e), userError: e instanceof HesseError });
    process.exit(1);
  }
}

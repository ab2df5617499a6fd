/**
 * A study's settings: the preset, then what the caller gave, checked once, into one JSON object
 * that the study folder keeps (study.json). A study continues only with the settings it started
 * with, since anything else would mix numbers of two different studies in one table.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileFormatError, OptionError } from '../errors.js';
import { writeFileAtomic } from '../io/index.js';
import { pyhessianMilestones } from '../train/index.js';
import { count } from './check.js';
import { parseDataArg } from './dataArg.js';
import { PRESET_NAMES, STUDY_DEFAULTS, STUDY_PRESETS, type PresetName, type StudyRecipe } from './studyPresets.js';
import { resolveDepths, resolveSeeds, resolveVariants, studyRuns, type StudyRun } from './studyVariants.js';

export const STUDY_NAMES = ['bn-residual'] as const;
export type StudyName = (typeof STUDY_NAMES)[number];

export interface StudySettings extends StudyRecipe {
  study: StudyName;
  preset: PresetName | null;
}

export const STUDY_FILE = 'study.json';
const STUDY_FORMAT = 'hesse-study';
const STUDY_FORMAT_VERSION = 1;

function choose<T extends string>(what: string, value: string | undefined, choices: readonly T[], fallback: T | null): T | null {
  if (value === undefined) return fallback;
  if (!choices.includes(value as T)) throw new OptionError(`unknown ${what} '${value}'; choose ${choices.join(', ')}`);
  return value as T;
}

function finiteIn(what: string, v: number, lo: number, hi: number, loOpen: boolean, hiOpen: boolean): number {
  const ok = Number.isFinite(v) && (loOpen ? v > lo : v >= lo) && (hiOpen ? v < hi : v <= hi);
  if (!ok) throw new OptionError(`${what} must be a number ${loOpen ? '>' : '>='} ${lo}${Number.isFinite(hi) ? ` and ${hiOpen ? '<' : '<='} ${hi}` : ''}, got ${v}`);
  return v;
}

function optionalCount(what: string, v: number | null): number | null {
  return v === null ? null : count(what, v, 1);
}

/** The preset (if any) with the caller's settings on top, every value checked. */
export function resolveStudySettings(o: { study?: string; preset?: string } & Partial<StudyRecipe>): StudySettings {
  const study = choose('study', o.study, STUDY_NAMES, 'bn-residual')!;
  const preset = choose('preset', o.preset, PRESET_NAMES, null);
  const given = Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k !== 'study' && k !== 'preset')) as Partial<StudyRecipe>;
  const r: StudyRecipe = { ...STUDY_DEFAULTS, ...(preset ? STUDY_PRESETS[preset] : {}), ...given };
  for (const k of Object.keys(given)) {
    if (!(k in STUDY_DEFAULTS)) throw new OptionError(`unknown study setting '${k}' (the settings are ${Object.keys(STUDY_DEFAULTS).join(', ')})`);
  }
  // the data source is checked for its form here and opened later
  parseDataArg(r.data, 'train');
  const epochs = count('the number of epochs', r.epochs, 1);
  // epochs given without checkpoints: a quarter of them, as the preset's default is of its own
  if (given.analyzeEvery === undefined && given.epochs !== undefined) r.analyzeEvery = Math.max(1, Math.round(epochs / 4));
  // and the warm-up after a divergence scaled as the schedule is: 5 of PyHessian's 180 epochs
  if (given.warmupEpochs === undefined && given.epochs !== undefined) r.warmupEpochs = Math.max(1, Math.round((5 * epochs) / 180));
  const s: StudySettings = {
    study,
    preset,
    data: r.data,
    trainSamples: optionalCount('the number of training images', r.trainSamples),
    testSamples: optionalCount('the number of test images', r.testSamples),
    imageSize: optionalCount('the image size', r.imageSize),
    depths: resolveDepths(r.depths),
    width: count('the ResNet width', r.width, 1),
    variants: resolveVariants(r.variants),
    seeds: resolveSeeds(r.seeds),
    epochs,
    batchSize: count('the batch size', r.batchSize, 1),
    lr: finiteIn('the learning rate', r.lr, 0, Infinity, true, false),
    momentum: finiteIn('the momentum', r.momentum, 0, 1, false, true),
    weightDecay: finiteIn('the weight decay', r.weightDecay, 0, Infinity, false, false),
    augment: r.augment,
    warmupEpochs: count('the warm-up epochs after a divergence', r.warmupEpochs, 1),
    halvings: count('the learning-rate halvings after a divergence', r.halvings, 0, 0),
    analyzeEvery: count('the epochs between curvature checkpoints', r.analyzeEvery, 1),
    hessianBatch: optionalCount('the Hessian batch size', r.hessianBatch),
    hessianDatasetBatch: count('the batch size of the whole-training-set products', r.hessianDatasetBatch, 1),
    eigen: count('the number of top eigenvalues', r.eigen, 1),
    eigenTol: finiteIn('the eigenvalue tolerance', r.eigenTol, 0, 1, true, true),
    coldStartCheck: r.coldStartCheck,
    traceProducts: count('the number of trace products', r.traceProducts, 1),
    densitySteps: count('the number of Lanczos steps of the density', r.densitySteps, 1),
    densityProbes: count('the number of probes of the density', r.densityProbes, 1),
  };
  if (typeof s.augment !== 'boolean') throw new OptionError(`augment must be true or false, got ${JSON.stringify(s.augment)}`);
  if (typeof s.coldStartCheck !== 'boolean') throw new OptionError(`coldStartCheck must be true or false, got ${JSON.stringify(s.coldStartCheck)}`);
  if (s.analyzeEvery > epochs) throw new OptionError(`curvature every ${s.analyzeEvery} epochs is more than the ${epochs} epochs of the run; give at most ${epochs} (the end is always analysed)`);
  if (s.warmupEpochs > epochs) throw new OptionError(`a warm-up of ${s.warmupEpochs} epochs is longer than the ${epochs} epochs of the run; give at most ${epochs}`);
  return s;
}

/** The epochs after which the curvature is computed: every `analyzeEvery`, and the last. */
export function analysisEpochs(s: Pick<StudySettings, 'epochs' | 'analyzeEvery'>): number[] {
  const out: number[] = [];
  for (let e = s.analyzeEvery; e < s.epochs; e += s.analyzeEvery) out.push(e);
  out.push(s.epochs);
  return out;
}

/** The training recipe of `hesse train`: PyHessian's step decay by 0.1 at 4/9 and 2/3 of the run. */
export function studySchedule(s: Pick<StudySettings, 'epochs'>) {
  return { kind: 'multistep' as const, milestones: pyhessianMilestones(s.epochs), gamma: 0.1 };
}

export function runsOf(s: StudySettings): StudyRun[] {
  return studyRuns(s.depths, s.variants, s.seeds);
}

const show = (v: unknown) => JSON.stringify(v);

/** The first setting in which two studies differ, or undefined when they are the same study. */
export function settingsDifference(was: StudySettings, now: StudySettings): { key: string; was: unknown; now: unknown } | undefined {
  const keys = [...new Set([...Object.keys(was), ...Object.keys(now)])];
  for (const key of keys) {
    const a = (was as unknown as Record<string, unknown>)[key];
    const b = (now as unknown as Record<string, unknown>)[key];
    if (show(a) !== show(b)) return { key, was: a, now: b };
  }
  return undefined;
}

/**
 * Whether `dir` holds this study already (study.json with the same settings) or none; a different
 * study there is refused, naming the first setting that differs. With `claim`, a new folder gets
 * its study.json.
 */
export async function claimStudyFolder(dir: string, settings: StudySettings, claim = true): Promise<'new' | 'continued'> {
  const path = join(dir, STUDY_FILE);
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (text === undefined) {
    if (claim) await writeFileAtomic(path, `${JSON.stringify({ format: STUDY_FORMAT, version: STUDY_FORMAT_VERSION, settings }, null, 2)}\n`);
    return 'new';
  }
  const saved = readStudyFile(text, path);
  const diff = settingsDifference(saved, settings);
  if (diff) {
    throw new OptionError(
      `${path} holds a study whose ${diff.key} is ${show(diff.was)}, but ${show(diff.now)} was asked for; continue it with its own settings, or give another output folder`,
    );
  }
  return 'continued';
}

export function readStudyFile(text: string, path: string): StudySettings {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FileFormatError(`${path} is not valid JSON; it should be the study.json a hesse study wrote (remove the folder to start afresh)`);
  }
  const o = parsed as { format?: unknown; version?: unknown; settings?: unknown };
  if (o?.format !== STUDY_FORMAT || o.version !== STUDY_FORMAT_VERSION || typeof o.settings !== 'object' || o.settings === null) {
    throw new FileFormatError(`${path} is not a hesse study file (format '${STUDY_FORMAT}' version ${STUDY_FORMAT_VERSION}); give another output folder`);
  }
  try {
    const { preset, ...rest } = o.settings as Partial<StudySettings>;
    return resolveStudySettings({ ...rest, ...(preset ? { preset } : {}) });
  } catch (e) {
    if (e instanceof OptionError) throw new FileFormatError(`${path} is damaged: ${e.message}`);
    throw e;
  }
}

/** The settings a study folder holds. */
export async function loadStudySettings(dir: string): Promise<StudySettings> {
  const path = join(dir, STUDY_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new FileFormatError(`${path} is missing; give the folder a hesse study wrote (its --out)`);
  }
  return readStudyFile(text, path);
}

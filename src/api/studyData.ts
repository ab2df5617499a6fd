import { downscaleImages, TensorSet, type Dataset, type DatasetSpec, type Normalization } from '../data/index.js';
import { OptionError } from '../errors.js';
import { openDataset } from '../io/index.js';
import { defaultNormalization, describeData, parseDataArg } from './dataArg.js';
import type { StudySettings } from './studySettings.js';

/** Where the images come from, in words (the sizes follow). */
function source(spec: DatasetSpec): string {
  switch (spec.kind) {
    case 'synthetic':
      return `built-in synthetic set (seed ${spec.seed})`;
    case 'cifar10':
      return `CIFAR-10 from ${spec.dir}`;
    case 'cifar100':
      return `CIFAR-100 (${spec.labels} labels) from ${spec.dir}`;
    default:
      return spec.path;
  }
}

export interface StudyData {
  train: Dataset;
  test: Dataset;
  normalize: Normalization | null;
  /** one line for the results: source, sizes, classes */
  description: string;
}

function firstImages(d: Dataset, n: number | null, what: string): Dataset {
  if (n === null) return d;
  if (n > d.length) throw new OptionError(`the ${what} split of ${d.name} has ${d.length} images, fewer than the ${n} asked for; ask for at most ${d.length}`);
  return d.subset(0, n);
}

/**
 * The study's training and test images: the splits of the data source, cut to their first
 * trainSamples and testSamples images, shrunk to imageSize when asked. The data do not depend on
 * a run's seed (the seed moves the initialisation and the order of the batches), so every
 * variant sees the same images. `resolveDir` lets a cluster worker say where it keeps the files.
 */
export async function openStudyData(s: StudySettings, resolveDir?: (spec: ReturnType<typeof parseDataArg>) => Promise<ReturnType<typeof parseDataArg>>): Promise<StudyData> {
  const open = async (split: 'train' | 'test', n: number | null) => {
    let spec = parseDataArg(s.data, split, 0);
    if (resolveDir) spec = await resolveDir(spec);
    const full = await openDataset(spec);
    if (full instanceof TensorSet) throw new OptionError(`the study trains CIFAR ResNets on images (N, C, H, W) with class labels, but ${describeData(spec, full)}`);
    let d = firstImages(full, n, split);
    if (s.imageSize !== null && s.imageSize !== d.height) d = downscaleImages(d, s.imageSize);
    return { spec, d, full };
  };
  const train = await open('train', s.trainSamples);
  const test = await open('test', s.testSamples);
  if (train.d.classes !== test.d.classes) throw new OptionError(`${s.data}: the training split has ${train.d.classes} classes but the test split ${test.d.classes}`);
  const sizes = `${train.d.length.toLocaleString('en-US')} training and ${test.d.length.toLocaleString('en-US')} test images of ${train.d.channels}x${train.d.height}x${train.d.width}`;
  return {
    train: train.d,
    test: test.d,
    normalize: defaultNormalization(train.spec),
    description: `${source(train.spec)}: ${sizes}, ${train.d.classes} classes`,
  };
}

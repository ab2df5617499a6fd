import { loadCifar10, loadCifar100, synthetic, type AnyDataset, type DatasetSpec } from '../data/index.js';
import { loadTensorDataset, loadTensorSet } from './tensorDataset.js';

/** Loads the dataset a spec describes (a worker's shard, say), restricted to spec.range when given. */
export async function openDataset(spec: DatasetSpec): Promise<AnyDataset> {
  let full: AnyDataset;
  switch (spec.kind) {
    case 'cifar10':
      full = await loadCifar10(spec.dir, { split: spec.split });
      break;
    case 'cifar100':
      full = await loadCifar100(spec.dir, { split: spec.split, labels: spec.labels });
      break;
    case 'tensor':
      full = await loadTensorDataset(spec.path);
      break;
    case 'tensors':
      full = await loadTensorSet(spec.path);
      break;
    case 'synthetic':
      full = synthetic({ n: spec.n, seed: spec.seed, classes: spec.classes, split: spec.split });
      break;
  }
  return spec.range ? full.subset(spec.range[0], spec.range[1]) : full;
}

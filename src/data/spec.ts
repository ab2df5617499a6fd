/**
 * A description from which a dataset can be loaded again, e.g. by a worker thread that holds a
 * shard: `range` picks samples [start, end) of the full set.
 */
export type DatasetSpec = (
  | { kind: 'cifar10'; dir: string; split: 'train' | 'test' }
  | { kind: 'cifar100'; dir: string; split: 'train' | 'test'; labels: 'fine' | 'coarse' }
  | { kind: 'tensor'; path: string }
  | { kind: 'synthetic'; n: number; seed: number; classes: number; split: 'train' | 'test' }
) & { range?: [number, number] };

/**
 * A description from which a dataset can be loaded again, e.g. by a worker thread that holds a
 * shard: `range` picks samples [start, end) of the full set. A safetensors file is `tensor` when
 * it holds images (N, C, H, W) with class labels (an ImageDataset), `tensors` for anything else:
 * token ids, features, token labels or float targets (a TensorSet).
 */
export type DatasetSpec = (
  | { kind: 'cifar10'; dir: string; split: 'train' | 'test' }
  | { kind: 'cifar100'; dir: string; split: 'train' | 'test'; labels: 'fine' | 'coarse' }
  | { kind: 'tensor'; path: string }
  | { kind: 'tensors'; path: string }
  | { kind: 'synthetic'; n: number; seed: number; classes: number; split: 'train' | 'test' }
) & { range?: [number, number] };

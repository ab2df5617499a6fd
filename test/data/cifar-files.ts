/** Writers of tiny CIFAR files in the exact official record layout, shared by the data tests. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A pixel value that says which file, record, channel, row and column it belongs to. */
export function pixelOf(fileNo: number, record: number, c: number, h: number, w: number): number {
  return (fileNo * 101 + record * 37 + c * 61 + h * 7 + w * 3) & 0xff;
}

/** Records of `labelBytes.length` label bytes followed by R, G, B planes of 32x32 bytes. */
export function cifarRecords(fileNo: number, labels: number[][]): Uint8Array {
  const lb = labels[0]?.length ?? 1;
  const rec = lb + 3072;
  const out = new Uint8Array(labels.length * rec);
  labels.forEach((ls, r) => {
    out.set(ls, r * rec);
    for (let c = 0; c < 3; c++)
      for (let h = 0; h < 32; h++) for (let w = 0; w < 32; w++) out[r * rec + lb + c * 1024 + h * 32 + w] = pixelOf(fileNo, r, c, h, w);
  });
  return out;
}

export const CIFAR10_TRAIN_LABELS = [[[3], [9]], [[0], [1]], [[2], [5]], [[7], [8]], [[4], [6]]];
export const CIFAR10_TEST_LABELS = [[1], [0], [9]];

/** dir/cifar-10-batches-bin/ with five 2-record training batches and a 3-record test batch. */
export async function writeTinyCifar10(dir: string): Promise<string> {
  const folder = join(dir, 'cifar-10-batches-bin');
  await mkdir(folder, { recursive: true });
  for (let i = 0; i < 5; i++) await writeFile(join(folder, `data_batch_${i + 1}.bin`), cifarRecords(i, CIFAR10_TRAIN_LABELS[i]!));
  await writeFile(join(folder, 'test_batch.bin'), cifarRecords(5, CIFAR10_TEST_LABELS));
  await writeFile(join(folder, 'batches.meta.txt'), 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n');
  return folder;
}

/** (coarse, fine) pairs. */
export const CIFAR100_TRAIN_LABELS = [[11, 19], [19, 99], [0, 4], [4, 0]];
export const CIFAR100_TEST_LABELS = [[13, 58], [7, 7]];

export async function writeTinyCifar100(dir: string): Promise<string> {
  const folder = join(dir, 'cifar-100-binary');
  await mkdir(folder, { recursive: true });
  await writeFile(join(folder, 'train.bin'), cifarRecords(0, CIFAR100_TRAIN_LABELS));
  await writeFile(join(folder, 'test.bin'), cifarRecords(1, CIFAR100_TEST_LABELS));
  await writeFile(join(folder, 'coarse_label_names.txt'), Array.from({ length: 20 }, (_, i) => `coarse${i}`).join('\n') + '\n');
  return folder;
}

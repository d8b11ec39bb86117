import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { DatasetError } from '../errors.ts';
import type { ImagePreprocessing } from '../manifest.ts';
import { inBatches, type TestSet } from './test-set.ts';

/** An IDX file (MNIST format, optionally gzipped): big-endian header, unsigned bytes. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export async function readIdx(file: string): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  } catch (error) {
    throw new DatasetError(file, `cannot be read: ${(error as Error).message}`, { cause: error });
  }
  // Magic: two zero bytes, data type (0x08 = unsigned byte), number of dimensions.
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08) throw new DatasetError(file, 'is not an unsigned-byte IDX file');
  const rank = bytes[3] as number;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const offset = 4 + 4 * rank;
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length - offset !== count) throw new DatasetError(file, `holds ${bytes.length - offset} values, header says ${count}`);
  return { dims, data: bytes.subarray(offset) };
}

/** Images and labels in IDX files (e.g. Fashion-MNIST's t10k pair); pixels are normalised like a decoded image. */
export async function readIdxImages(imagesFile: string, labelsFile: string, classes: number, p: ImagePreprocessing): Promise<TestSet> {
  const [images, labels] = await Promise.all([readIdx(imagesFile), readIdx(labelsFile)]);
  const [count = 0, height = 0, width = 0] = images.dims;
  if (images.dims.length !== 3 || height !== p.height || width !== p.width || p.channels !== 1) {
    throw new DatasetError(imagesFile, `holds [${images.dims.join(', ')}] images; the model wants ${p.channels} x ${p.height} x ${p.width}`);
  }
  if (labels.dims[0] !== count) throw new DatasetError(labelsFile, `holds ${labels.dims[0]} labels for ${count} images`);
  const bad = labels.data.findIndex((l) => l >= classes);
  if (bad >= 0) throw new DatasetError(labelsFile, `label ${labels.data[bad]} at ${bad} is outside the model's ${classes} classes`);
  const plane = height * width;
  const mean = p.mean[0] ?? 0;
  const std = p.std[0] ?? 1;
  const indices = Array.from({ length: count }, (_, i) => i);
  return {
    description: `${imagesFile} (IDX, ${count} images)`,
    size: count,
    batches: (batchSize) =>
      inBatches(indices, batchSize, (i) => {
        const input = new Float32Array(plane);
        for (let j = 0; j < plane; j++) input[j] = ((images.data[i * plane + j] as number) * p.scale - mean) / std;
        return { input, label: labels.data[i] as number };
      }),
  };
}

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeImage } from '../../decode/image.ts';
import { DatasetError } from '../errors.ts';
import type { ImagePreprocessing } from '../manifest.ts';
import { inBatches, type TestSet } from './test-set.ts';

const IMAGE_FILE = /\.(jpe?g|png)$/i;

/** `<dir>/<class>/*.jpg|png`, one folder per manifest class (label = the class's index in the manifest). */
export async function readImageFolder(dir: string, classes: readonly string[], preprocessing: ImagePreprocessing): Promise<TestSet> {
  const items: { file: string; label: number }[] = [];
  for (const [label, name] of classes.entries()) {
    let files: string[];
    try {
      files = (await readdir(join(dir, name))).filter((f) => IMAGE_FILE.test(f));
    } catch (error) {
      throw new DatasetError(join(dir, name), `missing: expected one folder per class (${classes.join(', ')})`, { cause: error });
    }
    files.sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    for (const f of files) items.push({ file: join(dir, name, f), label });
  }
  if (items.length === 0) throw new DatasetError(dir, 'no .jpg or .png images in the class folders');
  return {
    description: `${dir} (image folder, ${items.length} images)`,
    size: items.length,
    batches: (batchSize) =>
      inBatches(items, batchSize, async ({ file, label }) => {
        try {
          return { input: await decodeImage(await readFile(file), preprocessing), label };
        } catch (error) {
          throw new DatasetError(file, `cannot be decoded: ${(error as Error).message}`, { cause: error });
        }
      }),
  };
}

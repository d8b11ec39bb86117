import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';

export interface LabelledImage {
  file: string;
  /** Index into the class list given (the model manifest's `classes`). */
  label: number;
  bytes: Buffer;
}

/**
 * Reads `<folder>/<class>/*.jpg|png` (e.g. data/neu-surface/test) for each class of `classes`, labelled by the
 * class's index in that list. A class without a folder is a config error (the labels would be wrong); folders of
 * classes not in the list are ignored.
 */
export async function loadLabelledImages(folder: string, classes: string[]): Promise<LabelledImage[]> {
  const perClass = await Promise.all(
    classes.map(async (className, label) => {
      let files: string[];
      try {
        files = (await readdir(join(folder, className))).filter((file) => /\.(jpe?g|png)$/i.test(file)).sort();
      } catch (error) {
        throw new ConfigError(`no image folder for class ${className} under ${folder}`, { cause: error });
      }
      return Promise.all(
        files.map(async (file) => ({ file: join(className, file), label, bytes: await readFile(join(folder, className, file)) })),
      );
    }),
  );
  const images = interleave(perClass);
  if (images.length === 0) throw new ConfigError(`no images under ${folder}`);
  return images;
}

/** Round-robin over the classes so a replay alternates classes instead of sending 60 crazing images first. */
function interleave<T>(lists: T[][]): T[] {
  const out: T[] = [];
  const longest = Math.max(0, ...lists.map((list) => list.length));
  for (let i = 0; i < longest; i += 1) {
    for (const list of lists) {
      const item = list[i];
      if (item !== undefined) out.push(item);
    }
  }
  return out;
}

import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { isAbsolute, join, resolve } from 'node:path';
import { DatasetError } from '../errors.ts';
import type { Manifest } from '../manifest.ts';
import { readIdxImages } from './idx-images.ts';
import { readImageFolder } from './image-folder.ts';
import { readSegmentIndex, readSignalSegments } from './signal-segments.ts';
import type { TestSet } from './test-set.ts';

/**
 * Finds a model's test split without knowing the model by name. In order:
 * 1. `data` (the `--data` option): a class-folder image directory, a segment index.json (or its folder), or a folder
 *    holding an IDX pair (t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]);
 * 2. the manifest's optional `dataset.test` (kind + paths, relative to the model folder where they exist there, else
 *    to the repository root);
 * 3. discovery by content, driven by the manifest's task, classes and input: `data/* /test/` folders with one
 *    sub-folder per class (images), `data/* /test/index.json` whose segments carry the model's classes (signals), and
 *    IDX pairs under /usr/share/datasets/* whose image size equals the model input (images).
 * The repository root is taken as the model folder's grandparent (models/<name>/), then the working directory.
 */
export interface LocateOptions {
  data?: string;
  /** Extra places to search for `data/` (tests). */
  roots?: string[];
  /** Where system datasets live; default /usr/share/datasets. */
  systemDatasets?: string;
}

const IDX_IMAGES = ['t10k-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte'];
const IDX_LABELS = ['t10k-labels-idx1-ubyte.gz', 't10k-labels-idx1-ubyte'];

export async function openTestSet(modelDir: string, manifest: Manifest, options: LocateOptions = {}): Promise<TestSet> {
  const roots = [...new Set([...(options.roots ?? []), resolve(modelDir, '..', '..'), process.cwd()])];
  if (options.data !== undefined) return openPath(resolve(options.data), manifest);
  const declared = manifest.dataset?.test;
  if (declared !== undefined) {
    // Relative paths: inside the model folder first (what `edgeke train` writes: test/), else from the repository root.
    const at = (p: string): string => {
      if (isAbsolute(p)) return p;
      const inModel = resolve(modelDir, p);
      return existsSync(inModel) ? inModel : resolve(roots[roots.length - 2] ?? process.cwd(), p);
    };
    switch (declared.kind) {
      case 'image-folder':
        return readImageFolder(at(declared.path), manifest.classes, imagePreprocessing(manifest));
      case 'idx':
        return readIdxImages(at(declared.images), at(declared.labels), manifest.classes.length, imagePreprocessing(manifest));
      case 'signal-segments':
        return readSignalSegments(at(declared.index), manifest.classes, signalPreprocessing(manifest), declared.hop ?? manifest.dataset?.evaluation?.hop);
    }
  }
  const found = await discover(roots, manifest, options.systemDatasets ?? '/usr/share/datasets');
  if (found !== undefined) return found;
  throw new DatasetError(
    roots.map((r) => join(r, 'data')).join(', '),
    `no test split found for model '${manifest.name}' (${manifest.task}, classes ${manifest.classes.join(', ')}); pass --data <path>`,
  );
}

async function openPath(path: string, manifest: Manifest): Promise<TestSet> {
  if (path.endsWith('.json')) return readSignalSegments(path, manifest.classes, signalPreprocessing(manifest), manifest.dataset?.evaluation?.hop);
  if (!(await isDir(path))) throw new DatasetError(path, 'not found (expected a folder or an index.json)');
  if (manifest.task === 'signal-classification') {
    return readSignalSegments(join(path, 'index.json'), manifest.classes, signalPreprocessing(manifest), manifest.dataset?.evaluation?.hop);
  }
  const idx = await idxPair(path);
  if (idx !== undefined) return readIdxImages(idx[0], idx[1], manifest.classes.length, imagePreprocessing(manifest));
  return readImageFolder(path, manifest.classes, imagePreprocessing(manifest));
}

async function discover(roots: string[], manifest: Manifest, systemDatasets: string): Promise<TestSet | undefined> {
  for (const root of roots) {
    for (const name of await subfolders(join(root, 'data'))) {
      const test = join(root, 'data', name, 'test');
      if (manifest.task === 'signal-classification') {
        const index = join(test, 'index.json');
        if (await isFile(index)) {
          const segments = await readSegmentIndex(index).catch(() => undefined);
          const classes = new Set(segments?.segments.map((s) => s.class));
          if (manifest.classes.every((c) => classes.has(c))) {
            return readSignalSegments(index, manifest.classes, signalPreprocessing(manifest), manifest.dataset?.evaluation?.hop);
          }
        }
      } else {
        const folders = new Set(await subfolders(test));
        if (manifest.classes.every((c) => folders.has(c))) return readImageFolder(test, manifest.classes, imagePreprocessing(manifest));
      }
    }
  }
  if (manifest.task !== 'image-classification') return undefined;
  const p = imagePreprocessing(manifest);
  for (const name of await subfolders(systemDatasets)) {
    const pair = await idxPair(join(systemDatasets, name));
    if (pair === undefined) continue;
    const dims = await idxDims(pair[0]);
    if (p.channels === 1 && dims[1] === p.height && dims[2] === p.width) return readIdxImages(pair[0], pair[1], manifest.classes.length, p);
  }
  return undefined;
}

async function idxPair(dir: string): Promise<[string, string] | undefined> {
  const images = await firstFile(IDX_IMAGES.map((f) => join(dir, f)));
  const labels = await firstFile(IDX_LABELS.map((f) => join(dir, f)));
  return images !== undefined && labels !== undefined ? [images, labels] : undefined;
}

/** Dimensions from an IDX header (decompressing a gzipped file whole: they are a few MB). */
async function idxDims(file: string): Promise<number[]> {
  try {
    let bytes: Uint8Array = await readFile(file);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return Array.from({ length: bytes[3] ?? 0 }, (_, i) => view.getUint32(4 + 4 * i, false));
  } catch {
    return [];
  }
}

function imagePreprocessing(manifest: Manifest) {
  const p = manifest.input.preprocessing;
  if (p.kind !== 'image') throw new DatasetError('manifest.json', `model '${manifest.name}' takes signals, not images`);
  return p;
}

function signalPreprocessing(manifest: Manifest) {
  const p = manifest.input.preprocessing;
  if (p.kind !== 'signal') throw new DatasetError('manifest.json', `model '${manifest.name}' takes images, not signals`);
  return p;
}

async function subfolders(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  } catch {
    return [];
  }
}

async function firstFile(paths: string[]): Promise<string | undefined> {
  for (const p of paths) if (await isFile(p)) return p;
  return undefined;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

async function isDir(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isDirectory(), () => false);
}

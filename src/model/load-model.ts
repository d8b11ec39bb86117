import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ModelFileError } from './errors.ts';
import { ENGINE_NAMES, type EngineName, type EngineOptions, type InferenceEngine } from './engines/engine.ts';
import { readManifest, type Manifest } from './manifest.ts';

export interface LoadModelOptions extends EngineOptions {
  /** Default 'onnx'. */
  engine?: EngineName;
}

/** A model folder loaded into one engine. Share one per model and process; close it when the last flow stops. */
export interface LoadedModel {
  dir: string;
  manifest: Manifest;
  engine: InferenceEngine;
  close(): Promise<void>;
}

/** Engines load lazily: a process that only uses ONNX Runtime never loads TensorFlow.js, and the other way round. */
const ENGINES: Record<EngineName, (dir: string, manifest: Manifest, options: EngineOptions) => Promise<InferenceEngine>> = {
  onnx: async (dir, manifest, options) => (await import('./engines/onnx-engine.ts')).OnnxEngine.load(dir, manifest, options),
  tfjs: async (dir, manifest, options) => (await import('./engines/tfjs-engine.ts')).TfjsEngine.load(dir, manifest, options),
};

/**
 * Reads `<dir>/manifest.json`, validates it, and loads every stage into the chosen engine. Throws ManifestError or
 * ModelFileError (naming the file and the problem) when the folder is not a usable model.
 */
export async function loadModel(dir: string, options: LoadModelOptions = {}): Promise<LoadedModel> {
  const engineName = options.engine ?? 'onnx';
  if (!ENGINE_NAMES.includes(engineName)) throw new RangeError(`unknown engine '${String(engineName)}' (${ENGINE_NAMES.join(', ')})`);
  const absolute = resolve(dir);
  const manifest = await readManifest(absolute);
  const engine = await ENGINES[engineName](absolute, manifest, options);
  return { dir: absolute, manifest, engine, close: () => engine.close() };
}

/**
 * sha256 over manifest.json and every stage file, in stage order: changes whenever the model does. Used to key
 * cached latency profiles.
 */
export async function modelHash(dir: string, manifest: Manifest): Promise<string> {
  const hash = createHash('sha256');
  for (const file of ['manifest.json', ...manifest.stages.map((s) => s.file)]) {
    const path = join(dir, file);
    try {
      hash.update(file).update(await readFile(path));
    } catch (error) {
      throw new ModelFileError(path, 'cannot be read', { cause: error });
    }
  }
  return hash.digest('hex');
}

import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Tf } from '../onnx/tfjs-graph.ts';

/**
 * Loads TensorFlow.js once per process with the fastest backend that works here: the native `@tensorflow/tfjs-node`
 * when it is installed (an optional dependency), otherwise the WebAssembly backend, otherwise plain JavaScript.
 */

export interface TfRuntime {
  tf: Tf;
  backend: 'tensorflow' | 'wasm' | 'cpu';
}

let loading: Promise<TfRuntime> | undefined;

export function loadTensorflow(): Promise<TfRuntime> {
  loading ??= load();
  return loading;
}

async function load(): Promise<TfRuntime> {
  const native = await importOptional('@tensorflow/tfjs-node');
  if (native !== undefined) {
    const tf = native as Tf;
    await tf.ready();
    return { tf, backend: 'tensorflow' };
  }
  const tf = await import('@tensorflow/tfjs');
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // In Node the wasm backend cannot fetch its .wasm binaries by URL: point it at the package's dist folder.
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      return { tf, backend: 'wasm' };
    }
  } catch {
    // fall through to the JavaScript backend
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return { tf, backend: 'cpu' };
}

/** Imports a package that may not be installed; a variable specifier keeps TypeScript from requiring its types. */
async function importOptional(name: string): Promise<unknown> {
  try {
    return await import(name);
  } catch {
    return undefined;
  }
}

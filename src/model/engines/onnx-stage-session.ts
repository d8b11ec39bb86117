import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';

/**
 * One ONNX Runtime session, run without the event-loop turn onnxruntime-node's public `run` adds.
 *
 * The public `InferenceSession.run` defers the native call with setImmediate and then runs it synchronously on the
 * main thread anyway. So each stage of each batch waited for a turn of the event loop, behind whatever else was
 * queued for it: in the demo, a vibration frame whose three stages take 0.6 ms spent up to 60 ms in them, while camera
 * batches and socket reads ran between its stages. Called directly, a batch's stages run back to back, and the time
 * a stage takes is the time it ran.
 *
 * The direct call uses onnxruntime-node's native binding (`dist/binding`), which is not its public API: where that
 * is missing or shaped differently (another version), the public API serves, with its deferral.
 */
export interface OnnxStageSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** Runs the session; `fetches` = the outputs wanted (all when omitted). */
  run(feeds: Record<string, ort.Tensor>, fetches?: readonly string[]): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

interface NativeSession {
  loadModel(path: string, options: ort.InferenceSession.SessionOptions): void;
  run(feeds: Record<string, ort.Tensor>, fetches: Record<string, null>, options: object): Record<string, ort.Tensor>;
  dispose(): void;
  readonly inputMetadata: readonly { name: string }[];
  readonly outputMetadata: readonly { name: string }[];
}

interface NativeBinding {
  binding: { InferenceSession: new () => NativeSession };
  initOrt: () => void;
}

let nativeBinding: NativeBinding | null | undefined;

/** The native binding when it has the shape this file was written against; null otherwise. */
function loadNativeBinding(): NativeBinding | null {
  if (nativeBinding !== undefined) return nativeBinding;
  try {
    const candidate = createRequire(import.meta.url)('onnxruntime-node/dist/binding') as Partial<NativeBinding>;
    const prototype = candidate.binding?.InferenceSession?.prototype as Partial<NativeSession> | undefined;
    const usable = typeof candidate.initOrt === 'function' && typeof prototype?.loadModel === 'function' && typeof prototype.run === 'function' && typeof prototype.dispose === 'function';
    nativeBinding = usable ? (candidate as NativeBinding) : null;
  } catch {
    nativeBinding = null;
  }
  return nativeBinding;
}

class DirectSession implements OnnxStageSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  private readonly allOutputs: Record<string, null>;
  /** The native call's fetch record per fetches array, built once (callers pass the same constant arrays). */
  private readonly fetchRecords = new WeakMap<readonly string[], Record<string, null>>();

  constructor(private readonly native: NativeSession) {
    this.inputNames = native.inputMetadata.map((value) => value.name);
    this.outputNames = native.outputMetadata.map((value) => value.name);
    this.allOutputs = Object.fromEntries(this.outputNames.map((name) => [name, null]));
  }

  run(feeds: Record<string, ort.Tensor>, fetches?: readonly string[]): Promise<Record<string, ort.Tensor>> {
    try {
      const wanted = fetches === undefined ? this.allOutputs : this.fetchRecord(fetches);
      return Promise.resolve(this.native.run(feeds, wanted, {}));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private fetchRecord(fetches: readonly string[]): Record<string, null> {
    let record = this.fetchRecords.get(fetches);
    if (record === undefined) {
      record = Object.fromEntries(fetches.map((name) => [name, null]));
      this.fetchRecords.set(fetches, record);
    }
    return record;
  }

  release(): Promise<void> {
    this.native.dispose();
    return Promise.resolve();
  }
}

class PublicApiSession implements OnnxStageSession {
  constructor(private readonly session: ort.InferenceSession) {}
  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }
  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }
  run(feeds: Record<string, ort.Tensor>, fetches?: readonly string[]): Promise<Record<string, ort.Tensor>> {
    return (fetches === undefined ? this.session.run(feeds) : this.session.run(feeds, [...fetches])) as Promise<Record<string, ort.Tensor>>;
  }
  release(): Promise<void> {
    return this.session.release();
  }
}

/** Loads `file` (rejects with ONNX Runtime's own error when it cannot). */
export async function openOnnxStageSession(file: string, options: ort.InferenceSession.SessionOptions): Promise<OnnxStageSession> {
  const native = loadNativeBinding();
  if (native === null) return new PublicApiSession(await ort.InferenceSession.create(file, options));
  native.initOrt();
  const session = new native.binding.InferenceSession();
  session.loadModel(file, options);
  return new DirectSession(session);
}

/** Whether sessions run through the native binding directly (reported in the engine's backend string). */
export function runsDirect(): boolean {
  return loadNativeBinding() !== null;
}

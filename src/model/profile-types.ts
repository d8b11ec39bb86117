/**
 * One cell of a measured latency profile: how long one stage took at one batch size on this device
 * (`edgeke profile`, or the warm-up at start). The controller's latency model is seeded from these entries.
 */
export interface StageLatencyProfileEntry {
  /** 1-based stage index, as in the model manifest. */
  stage: number;
  batchSize: number;
  medianMs: number;
  p95Ms: number;
  samples: number;
}

/** Same thing under the short name used in src/model. */
export type ProfileEntry = StageLatencyProfileEntry;

/** A whole profile as cached in `.cache/profiles/<key>.json`. */
export interface LatencyProfile {
  /** Cache key: sha256 over the fields below (model hash, engine, threads, CPU model). */
  key: string;
  model: { name: string; hash: string };
  engine: string;
  /** What ran underneath (e.g. "onnxruntime-node 1.30.0 (cpu, 1 intra-op thread)"). */
  backend: string;
  threads: number;
  cpuModel: string;
  batchSizes: number[];
  repeats: number;
  warmup: number;
  /** ISO time of the measurement. */
  measuredAt: string;
  entries: StageLatencyProfileEntry[];
}

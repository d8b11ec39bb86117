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

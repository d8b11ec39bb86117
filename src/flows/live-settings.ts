import type { FlowConfig } from './schema.ts';

/** True when two configs differ only in what a running flow can take live: policy, batching, limits. */
export function onlyLiveSettingsDiffer(a: FlowConfig, b: FlowConfig): boolean {
  const frozen = (config: FlowConfig): string => JSON.stringify({ ...config, policy: null, batching: null, limits: null });
  return frozen(a) === frozen(b);
}

/** True when two configs differ only in their model and what a running flow can take live. */
export function onlyModelAndLiveSettingsDiffer(a: FlowConfig, b: FlowConfig): boolean {
  return onlyLiveSettingsDiffer({ ...a, model: b.model }, b);
}

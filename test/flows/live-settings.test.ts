import { describe, expect, it } from 'vitest';
import { onlyLiveSettingsDiffer, onlyModelAndLiveSettingsDiffer } from '../../src/flows/live-settings.ts';
import type { FlowConfig } from '../../src/flows/schema.ts';

const base = {
  name: 'cam',
  source: { kind: 'mqtt', topic: 'a' },
  model: { path: 'models/a' },
  policy: { mode: 'deadline', deadlineMs: 50 },
  batching: { maxBatch: 8 },
  limits: { queueCapacity: 100 },
} as unknown as FlowConfig;
const withChange = (change: Record<string, unknown>): FlowConfig => ({ ...base, ...change }) as FlowConfig;

describe('live settings of a flow config', () => {
  it('policy, batching and limits are live; the source is not', () => {
    expect(onlyLiveSettingsDiffer(base, withChange({ policy: { mode: 'deadline', deadlineMs: 80 }, batching: { maxBatch: 4 }, limits: { queueCapacity: 5 } }))).toBe(true);
    expect(onlyLiveSettingsDiffer(base, withChange({ source: { kind: 'mqtt', topic: 'b' } }))).toBe(false);
  });

  it('a model change is a swap, not a live setting', () => {
    const moved = withChange({ model: { path: 'models/b' }, batching: { maxBatch: 4 } });
    expect(onlyLiveSettingsDiffer(base, moved)).toBe(false);
    expect(onlyModelAndLiveSettingsDiffer(base, moved)).toBe(true);
    expect(onlyModelAndLiveSettingsDiffer(base, withChange({ model: { path: 'models/b' }, source: { kind: 'mqtt', topic: 'b' } }))).toBe(false);
  });
});

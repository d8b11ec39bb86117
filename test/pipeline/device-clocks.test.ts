import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { DeviceClocks, OTHER_DEVICES } from '../../src/pipeline/device-clocks.ts';

const RECEIVED = 1_764_000_000_000;

function clocks(options: Partial<ConstructorParameters<typeof DeviceClocks>[0]> = {}) {
  const events = { skews: new Map<string, number>(), untrusted: 0, clamped: 0 };
  const logged: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => logged.push(line) });
  const rule = new DeviceClocks({
    logger,
    events: {
      onSkew: (device, skewMs) => events.skews.set(device, skewMs),
      onUntrusted: () => (events.untrusted += 1),
      onClamped: () => (events.clamped += 1),
    },
    ...options,
  });
  return { rule, events, logged };
}

describe('DeviceClocks', () => {
  it('estimates the skew as the 0.9 quantile of the last `window` offsets, repeated values and all', () => {
    const { rule } = clocks({ window: 16 });
    const offsets: number[] = [];
    let seed = 7;
    for (let i = 0; i < 400; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      const offset = (seed % 41) - 20 + (i > 200 ? 300 : 0); // a clock that jumps 300 ms ahead half-way
      offsets.push(offset);
      const last = offsets.slice(-16).sort((a, b) => a - b);
      expect(rule.observe('plant/cam1', RECEIVED + offset, RECEIVED).skewMs).toBe(last[Math.min(last.length - 1, Math.floor(0.9 * last.length))]);
    }
  });

  it('does not trust a capture time ahead of the receive time beyond the tolerance, and counts it', () => {
    const { rule, events } = clocks({ futureToleranceMs: 50 });
    expect(rule.judge(RECEIVED + 300, RECEIVED)).toEqual({ captureTs: RECEIVED, captureTsSource: 'receive' });
    expect(rule.judge(RECEIVED + 20, RECEIVED)).toEqual({ captureTs: RECEIVED + 20, captureTsSource: 'device' });
    expect(rule.judge(RECEIVED - 5_000, RECEIVED)).toEqual({ captureTs: RECEIVED - 5_000, captureTsSource: 'device' });
    expect(rule.judge(undefined, RECEIVED)).toEqual({ captureTs: RECEIVED, captureTsSource: 'receive' });
    expect(events.untrusted).toBe(1);
    // The check made before a frame settles applies the same rule and counts nothing.
    expect(rule.trustedCaptureTs(RECEIVED + 300, RECEIVED)).toBe(RECEIVED);
    expect(rule.trustedCaptureTs(RECEIVED - 5_000, RECEIVED)).toBe(RECEIVED - 5_000);
    expect(events.untrusted).toBe(1);
  });

  it('clamps a negative latency to 0 and counts it; others pass unchanged', () => {
    const { rule, events } = clocks();
    expect(rule.nonNegative(-12)).toBe(0);
    expect(rule.nonNegative(0)).toBe(0);
    expect(rule.nonNegative(35)).toBe(35);
    expect(events.clamped).toBe(1);
  });

  it('estimates each device skew from its fastest frames, robust to transit jitter and a stray outlier', () => {
    const { rule, events } = clocks();
    // Device A: clock 300 ms ahead, transit 2..40 ms. Device B: clock 5 s behind, same transit.
    for (let i = 0; i < 64; i++) {
      const transit = 2 + ((i * 7) % 39);
      rule.observe('plant/a', RECEIVED + i * 10 - transit + 300, RECEIVED + i * 10);
      rule.observe('plant/b', RECEIVED + i * 10 - transit - 5_000, RECEIVED + i * 10);
    }
    rule.observe('plant/a', RECEIVED + 60_000, RECEIVED); // one absurd stamp does not move the estimate
    expect(events.skews.get('plant/a')).toBeGreaterThan(290);
    expect(events.skews.get('plant/a')).toBeLessThan(300);
    expect(events.skews.get('plant/b')).toBeGreaterThan(-5_010);
    expect(events.skews.get('plant/b')).toBeLessThan(-5_000);
    expect(rule.skewMs('plant/a')).toBe(events.skews.get('plant/a'));
  });

  it('logs a device once when its skew crosses the threshold and once when it is back in step', () => {
    const { rule, logged } = clocks({ logThresholdMs: 250, window: 4 });
    for (let i = 0; i < 10; i++) rule.observe('plant/a', RECEIVED + 300, RECEIVED);
    for (let i = 0; i < 10; i++) rule.observe('plant/a', RECEIVED - 5, RECEIVED);
    const messages = logged.map((line) => JSON.parse(line) as { msg: string; device: string; skewMs: number });
    expect(messages.map((m) => m.msg)).toEqual([expect.stringContaining('device clock ahead'), 'device clock back in step']);
    expect(messages[0]).toMatchObject({ device: 'plant/a', skewMs: 300 });
  });

  it('keys devices by topic by default, ignoring ids', () => {
    const { rule, events } = clocks();
    rule.observe('plant/line1', RECEIVED + 300, RECEIVED, 'cam7-0001');
    rule.observe('plant/line1', RECEIVED - 5_000, RECEIVED, 'cam8-0001');
    expect([...events.skews.keys()]).toEqual(['plant/line1']);
  });

  it('with deviceKey id-prefix, tells apart devices that share a topic by their id up to the last separator', () => {
    const { rule, events, logged } = clocks({ deviceKey: 'id-prefix', logThresholdMs: 250 });
    // Two cameras on one topic: cam7's clock 300 ms ahead, cam8's 5 s behind; transit 2..40 ms; virtual time.
    for (let i = 0; i < 64; i++) {
      const received = RECEIVED + i * 10;
      const transit = 2 + ((i * 7) % 39);
      expect(rule.observe('plant/line1', received - transit + 300, received, `cam7-${i}`).device).toBe('cam7');
      expect(rule.observe('plant/line1', received - transit - 5_000, received, `line-2-cam-8-${i}`).device).toBe('line-2-cam-8');
    }
    expect([...events.skews.keys()].sort()).toEqual(['cam7', 'line-2-cam-8']);
    expect(events.skews.get('cam7')).toBeGreaterThan(290);
    expect(events.skews.get('cam7')).toBeLessThan(300);
    expect(events.skews.get('line-2-cam-8')).toBeGreaterThan(-5_010);
    expect(events.skews.get('line-2-cam-8')).toBeLessThan(-5_000);
    expect(rule.skewMs('cam7')).toBe(events.skews.get('cam7'));
    // Each logged once as it crossed the threshold, under its own key.
    const warnings = logged.map((line) => JSON.parse(line) as { msg: string; device: string }).filter((m) => m.msg.startsWith('device clock'));
    expect(warnings.map((m) => [m.device, m.msg.split(' ')[2]])).toEqual([
      ['cam7', 'ahead'],
      ['line-2-cam-8', 'behind'],
    ]);
  });

  it('with id-prefix, falls back to the topic for an id without the separator or no id; the separator is configurable', () => {
    const dash = clocks({ deviceKey: 'id-prefix' }).rule;
    expect(dash.deviceOf('plant/a', 'cam7-0001')).toBe('cam7');
    expect(dash.deviceOf('plant/a', 'cam7')).toBe('plant/a');
    expect(dash.deviceOf('plant/a', '-0001')).toBe('plant/a');
    expect(dash.deviceOf('plant/a', undefined)).toBe('plant/a');
    const slash = clocks({ deviceKey: 'id-prefix', idPrefixSeparator: '/' }).rule;
    expect(slash.deviceOf('plant/a', 'site1/cam-7/000123')).toBe('site1/cam-7');
    expect(slash.deviceOf('plant/a', 'cam7-0001')).toBe('plant/a');
  });

  it('bounds the devices it keeps: past maxDevices the rest share one estimate', () => {
    const { rule, events } = clocks({ maxDevices: 2 });
    // Each frame says which estimate it was attributed to (written with its point): its own, or the shared one.
    const attributed = ['a', 'b', 'c', 'd', 'a'].map((topic) => rule.observe(topic, RECEIVED, RECEIVED).device);
    expect(attributed).toEqual(['a', 'b', OTHER_DEVICES, OTHER_DEVICES, 'a']);
    expect([...events.skews.keys()].sort()).toEqual(['a', 'b', OTHER_DEVICES]);
  });

  it('bounds id-prefix devices too: a device inventing ids cannot grow the series past maxDevices', () => {
    const { rule, events } = clocks({ deviceKey: 'id-prefix', maxDevices: 2 });
    for (let i = 0; i < 50; i++) rule.observe('plant/a', RECEIVED, RECEIVED, `dev${i}-1`);
    expect([...events.skews.keys()].sort()).toEqual(['dev0', 'dev1', OTHER_DEVICES]);
  });
});

import { describe, expect, it } from 'vitest';
import { guaranteedCpuShare, OtherWorkShareMeter, type CpuClock } from '../../src/control/other-work-share.ts';

/** A process clock the test drives: wall time and CPU time advance as the test says. */
function fakeClock(): CpuClock & { advance(wallMs: number, cpuMs: number): void } {
  let wall = 0;
  let cpu = 0;
  return {
    cpuMs: () => cpu,
    nowMs: () => wall,
    advance(wallMs, cpuMs) {
      wall += wallMs;
      cpu += cpuMs;
    },
  };
}

describe('OtherWorkShareMeter', () => {
  it('on one core, measures the CPU other than inference per wall millisecond', () => {
    const clock = fakeClock();
    const meter = new OtherWorkShareMeter(1, clock, 100, 1);
    // 100 ms: 90 ms of CPU, 60 of them inference: 30% of the core went elsewhere.
    clock.advance(100, 90);
    meter.observeInference(60);
    expect(meter.share()).toBeCloseTo(0.3, 6);
  });

  it('on several cores, only the work the spare cores cannot absorb competes with inference', () => {
    const clock = fakeClock();
    const meter = new OtherWorkShareMeter(2, clock, 100, 1);
    clock.advance(100, 140);
    meter.observeInference(50);
    // 90 ms of other work on 2 cores: the spare core takes 100 of it, nothing spills.
    expect(meter.share()).toBe(0);
    clock.advance(100, 200);
    meter.observeInference(50);
    // 150 ms of other work: 50 spill onto the inference core.
    expect(meter.share()).toBeCloseTo(0.5, 6);
  });

  it('counts the other work of the main thread in full on any number of cores: inference runs there', () => {
    let wall = 0;
    let cpu = 0;
    let mainCpu = 0;
    const clock: CpuClock = { cpuMs: () => cpu, nowMs: () => wall, mainThreadCpuMs: () => mainCpu };
    const meter = new OtherWorkShareMeter(2, clock, 100, 1);
    // 100 ms: the main thread used 90 ms of CPU, 50 of them inference; 50 ms more on other threads (a spare core takes them).
    wall += 100;
    cpu += 140;
    mainCpu += 90;
    meter.observeInference(50);
    expect(meter.share()).toBeCloseTo(0.4, 6);
    // Other threads beyond the spare core: 150 ms of them, 50 spill onto the inference core.
    wall += 100;
    cpu += 240;
    mainCpu += 90;
    meter.observeInference(50);
    expect(meter.share()).toBeCloseTo(0.4 + 0.5, 6);
  });

  it('smooths over windows and only closes a window when it is due', () => {
    const clock = fakeClock();
    const meter = new OtherWorkShareMeter(1, clock, 100, 0.5);
    clock.advance(50, 50);
    expect(meter.share()).toBe(0);
    clock.advance(50, 50);
    // 100 ms, all of it other work: halfway from 0 to 1.
    expect(meter.share()).toBeCloseTo(0.5, 6);
    clock.advance(100, 0);
    expect(meter.share()).toBeCloseTo(0.25, 6);
  });

  it('prices a load that starts from idle at once, from the other work per frame learnt before', () => {
    const clock = fakeClock();
    const meter = new OtherWorkShareMeter(1, clock, 100, 0.3);
    // A steady 0.2 frames/ms costing 0.5 ms of other work each: 10% of the core.
    for (let window = 0; window < 30; window++) {
      for (let frame = 0; frame < 20; frame++) meter.observeOffered();
      clock.advance(100, 10);
      meter.share(0.2);
    }
    expect(meter.share(0.2)).toBeCloseTo(0.1, 3);
    // Idle for a few seconds: the measured share decays.
    for (let window = 0; window < 30; window++) {
      clock.advance(100, 0);
      meter.share(0);
    }
    expect(meter.share(0)).toBeLessThan(0.001);
    // 0.8 frames/ms arrive: 40% of the core, known from the first plan, while the measured share is still near 0.
    expect(meter.share(0.8)).toBeCloseTo(0.4, 3);
    // A window with too few frames to tell teaches nothing per frame (its 5 ms may be a timer's).
    for (let frame = 0; frame < 5; frame++) meter.observeOffered();
    clock.advance(100, 5);
    expect(meter.share(0.8)).toBeCloseTo(0.4, 3);
    // Never more than the whole core.
    expect(meter.share(10)).toBe(1);
  });
});

describe('guaranteedCpuShare', () => {
  it('sets nothing aside for a model that runs alone', () => {
    expect(guaranteedCpuShare(1, [1])).toBe(0);
    expect(guaranteedCpuShare(5, [])).toBe(0);
  });

  it('gives each model weight / sum: equal weights are a fair share, a heavier flow gets more', () => {
    expect(guaranteedCpuShare(1, [1, 1])).toBeCloseTo(0.5);
    expect(guaranteedCpuShare(1, [1, 1, 1, 1])).toBeCloseTo(0.25);
    expect(guaranteedCpuShare(3, [3, 1])).toBeCloseTo(0.75);
    expect(guaranteedCpuShare(1, [3, 1])).toBeCloseTo(0.25);
  });
});

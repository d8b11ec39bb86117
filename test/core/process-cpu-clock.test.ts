import { describe, expect, it } from 'vitest';
import { processCpuClock } from '../../src/core/process-cpu-clock.ts';

describe('processCpuClock', () => {
  it('reads the CPU time of the main thread, which grows with work done on it and not with waiting', async () => {
    const before = processCpuClock.mainThreadCpuMs();
    if (process.platform !== 'linux') {
      expect(before).toBeUndefined();
      return;
    }
    expect(before).toBeGreaterThanOrEqual(0);
    // 200 ms of waiting: a few ticks at most (timers, the test runner).
    await new Promise((resolve) => setTimeout(resolve, 200));
    const afterWait = processCpuClock.mainThreadCpuMs() as number;
    expect(afterWait - (before as number)).toBeLessThan(150);
    // 300 ms of the process's CPU spent spinning on this thread (counted in 10 ms ticks; a busy machine only stretches
    // the wall time): most of it is this thread's, whatever the process's other threads did meanwhile.
    const cpuBefore = processCpuClock.cpuMs();
    let spent = 0;
    while (processCpuClock.cpuMs() - cpuBefore < 300) spent += Math.sqrt(spent + 1);
    expect(spent).toBeGreaterThan(0);
    const processDelta = processCpuClock.cpuMs() - cpuBefore;
    const afterWork = processCpuClock.mainThreadCpuMs() as number;
    expect(afterWork - afterWait).toBeGreaterThanOrEqual(Math.max(150, 0.5 * processDelta));
    expect(afterWork - afterWait).toBeLessThanOrEqual(processDelta + 20);
  });
});

import { describe, expect, it } from 'vitest';
import { policy } from './fixtures.ts';
import { simulate, summarize } from './simulated-queue.ts';

// Final exit: 15 ms alone, 33 ms for a batch of 4 (≈121 frames/s); exit 1 serves ≈7.5x that.
const planner = { maxBatch: 4, queueCapacity: 64, resultsAt: 'exit' as const };
const deadlineMs = 100;
const flow = policy({ deadlineMs, riskQuantile: 0.95 });

describe('controller under offered load (virtual time)', () => {
  const loads = [0.5, 1, 1.5, 2, 3, 5];
  const results = loads.map((load) => ({ load, ...summarize(simulate({ load, durationMs: 10_000, policy: flow, planner }), deadlineMs) }));

  it.each(results)('at $load x final-exit capacity: ≥ 99% of admitted frames on time, none undecided', (r) => {
    expect(r.frames).toBeGreaterThan(400);
    expect(r.undecided).toBe(0);
    expect(r.admittedAttainment).toBeGreaterThanOrEqual(0.99);
  });

  it('moves frames to earlier exits instead of shedding while exit 1 can keep up', () => {
    for (const r of results) expect(r.shedRate).toBe(0);
    const exits = results.map((r) => r.meanExit);
    expect(exits[0]).toBeGreaterThan(3.5); // light load: (nearly) the final exit
    for (let i = 1; i < exits.length; i++) expect(exits[i]).toBeLessThanOrEqual((exits[i - 1] ?? 0) + 0.05);
    expect(exits[exits.length - 1]).toBeLessThan(2.5);
  });

  it('beyond exit-1 capacity sheds the hopeless and keeps the admitted on time', () => {
    const report = simulate({ load: 10, durationMs: 3_000, policy: flow, planner });
    const r = summarize(report, deadlineMs);
    expect(r.shedRate).toBeGreaterThan(0.1);
    expect(r.admittedAttainment).toBeGreaterThanOrEqual(0.99);
    expect(r.undecided).toBe(0);
    // Degrade before drop: a plan that shed for slack ran everything it kept at exit 1.
    for (const plan of report.plans.filter((p) => p.slackSheds > 0)) expect(Math.max(...plan.caps, 1)).toBe(1);
  });

  it('keeps admitted frames on time without an arrival-rate estimate too (it then sheds more)', () => {
    for (const load of [0.5, 3, 5]) {
      const r = summarize(simulate({ load, durationMs: 5_000, policy: flow, planner, knowsArrivalRate: false }), deadlineMs);
      expect(r.admittedAttainment).toBeGreaterThanOrEqual(0.99);
      expect(r.undecided).toBe(0);
    }
  });

  it.each([0.5, 1, 2, 3])('holds a tight 30 ms deadline on a noisy machine at %s x', (load) => {
    const tight = { ...flow, deadlineMs: 30 };
    const r = summarize(simulate({ load, durationMs: 5_000, policy: tight, planner, noise: 0.15, seed: 11 }), 30);
    expect(r.undecided).toBe(0);
    expect(r.admittedAttainment).toBeGreaterThanOrEqual(0.99);
    expect(r.shedRate).toBeLessThan(0.01);
  });

  it('survives random stalls without collapsing into shedding (the estimate recovers)', () => {
    // 1% of stages take 20x longer: frames caught behind a stall are lost, the rest keep deep exits.
    const meanExits: number[] = [];
    for (let seed = 1; seed <= 6; seed++) {
      const report = simulate({ load: 1, durationMs: 10_000, policy: flow, planner, seed, stalls: { probability: 0.01, factor: 20 } });
      const r = summarize(report, deadlineMs);
      expect(r.shedRate).toBeLessThan(0.15);
      expect(r.admittedAttainment).toBeGreaterThanOrEqual(0.9);
      // Collapsing would mean exit 1.
      expect(r.meanExit).toBeGreaterThan(2);
      meanExits.push(r.meanExit);
      const lastSecond = report.frames.filter((f) => f.captureTs > 9_000);
      expect(lastSecond.filter((f) => f.outcome === 'shed').length / lastSecond.length).toBeLessThan(0.15);
    }
    // At 1x the work target alone keeps the mean near exit 3; the misses behind stalls lower it somewhat (miss
    // feedback). One seed's run scatters by ~0.3 exit (2.35-3.05 over seeds 1-12): the bound is on the mean of six.
    expect(meanExits.reduce((a, b) => a + b, 0) / meanExits.length).toBeGreaterThan(2.5);
  });

  it('answer-late answers every frame, marking the late ones', () => {
    const report = simulate({ load: 10, durationMs: 2_000, policy: { ...flow, latePolicy: 'answer-late' }, planner: { ...planner, queueCapacity: 10_000 } });
    expect(report.frames.filter((f) => f.outcome === 'shed')).toEqual([]);
    expect(report.frames.some((f) => f.outcome === 'late')).toBe(true);
    expect(report.frames.every((f) => f.exit !== undefined)).toBe(true);
  });

  it('adapts when the machine turns 2x slower mid-run', () => {
    const slowdown = (t: number): number => (t < 5_000 ? 1 : 2);
    const r = summarize(simulate({ load: 1, durationMs: 10_000, policy: flow, planner, slowdown }), deadlineMs);
    expect(r.admittedAttainment).toBeGreaterThanOrEqual(0.99);
    expect(r.undecided).toBe(0);
  });

  it('stops early on confidence and votes at the last exit when allowed', () => {
    const report = simulate({ load: 0.5, durationMs: 5_000, policy: { ...flow, confidenceStop: '0.95', vote: true }, planner });
    const r = summarize(report, deadlineMs);
    expect(r.meanExit).toBeLessThan(3.5);
    expect(report.frames.some((f) => f.answer === 'vote')).toBe(true);
    expect(r.admittedAttainment).toBeGreaterThanOrEqual(0.99);
  });
});

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { inferencePoint } from '../../../src/sinks/inference-point.ts';
import { lineProtocol } from '../../../src/sinks/line-protocol.ts';
import { WriteAheadLog } from '../../../src/sinks/write-ahead-log.ts';
import { result } from '../../sinks/fakes.ts';

// What durability costs (docs/reliability.md, write-ahead log): the latency an acknowledgement waits for its group's
// fsync, and the CPU per point, on this machine's disk, at a pipeline's rate (500 frames/s, one at a time), at commit intervals
// of 5, 10 (the default) and 20 ms.

const RATE = 500;
const SECONDS = 4;

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

describe('write-ahead log cost', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeke-wal-cost-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([5, 10, 20])(`group-commits ${RATE} points/s, commit interval %i ms: bounded acknowledgement latency, fsync cost shared by the group`, async (commitIntervalMs) => {
    const { log } = await WriteAheadLog.open({ dir: join(dir, String(commitIntervalMs)), flow: 'cost', logger: pino({ level: 'silent' }), maxBytes: 256 * 2 ** 20, memoryMaxRecords: 100_000, commitIntervalMs });
    const lines = Array.from({ length: RATE * SECONDS }, (_, index) => lineProtocol(inferencePoint(result(`cost-${index}`, { captureTs: 1_764_000_000_000 + index }))));
    const latencies: number[] = [];
    const appends: Promise<void>[] = [];
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    for (let index = 0; index < lines.length; index += 1) {
      const due = started + (index * 1000) / RATE;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const at = performance.now();
      appends.push(log.append({ key: `cost-${index}`, line: lines[index] as string }).then(() => void latencies.push(performance.now() - at)));
    }
    await Promise.all(appends);
    const elapsedMs = performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    await log.close();

    // The same loop without the log: the pacing timers' own CPU, subtracted from the log's.
    const idleBefore = process.cpuUsage();
    const idleStarted = performance.now();
    for (let index = 0; index < lines.length; index += 1) {
      const wait = idleStarted + (index * 1000) / RATE - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const idle = process.cpuUsage(idleBefore);

    latencies.sort((a, b) => a - b);
    const cpuPerPointUs = (cpu.user + cpu.system - idle.user - idle.system) / lines.length;
    const { commits, committedRecords, commitSeconds, maxCommitSeconds } = log.stats;
    const report = {
      commitIntervalMs,
      points: lines.length,
      elapsedS: elapsedMs / 1000,
      commits,
      pointsPerCommit: committedRecords / commits,
      commitMeanMs: (commitSeconds / commits) * 1000,
      commitMaxMs: maxCommitSeconds * 1000,
      ackP50Ms: percentile(latencies, 0.5),
      ackP99Ms: percentile(latencies, 0.99),
      ackMaxMs: latencies.at(-1),
      cpuPerPointUs,
      userPerPointUs: (cpu.user - idle.user) / lines.length,
      systemPerPointUs: (cpu.system - idle.system) / lines.length,
      cpuPerCommitUs: (cpu.user + cpu.system - idle.user - idle.system) / commits,
    };
    console.info(`[wal-cost] ${JSON.stringify(report, (_, value: unknown) => (typeof value === 'number' ? Number(value.toFixed(3)) : value))}`);

    expect(committedRecords).toBe(lines.length);
    // Group commit: at most one fsync per commit interval (5 ms) plus the ones a slow fsync forces, never one per point.
    expect(commits).toBeLessThan(lines.length / 2);
    // An acknowledgement waits one interval and one fsync; a busy 2-core machine stalls fsync for tens of ms at times.
    expect(report.ackP50Ms).toBeLessThan(50);
    // Framing and checksum are microseconds; a write + fdatasync costs this VM ~0.2-0.7 ms of CPU, shared by the
    // group. The bound leaves room for a loaded machine.
    expect(cpuPerPointUs).toBeLessThan(1_000);
  });
});

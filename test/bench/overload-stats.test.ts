import { describe, expect, it } from 'vitest';
import {
  capacityOf,
  loadRow,
  nearestRank,
  nextCapacityProbe,
  perSecondTable,
  referenceAttainment,
  verdicts,
  type CapacityProbe,
  type FrameOutcome,
  type LoadRow,
  type OfferedFrame,
} from '../../bench/lib/overload-stats.ts';
import { categoriseNodes, cpuPerFrame, samplesPerWindow, threadRole, type CpuProfile } from '../../bench/lib/cpu-split.ts';

const T0 = 1_700_000_000_000;

function offered(n: number, prefix = 'f', startMs = T0, fps = 10): OfferedFrame[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, ts: startMs + Math.floor((i * 1000) / fps), label: i % 3 }));
}

function outcomes(list: FrameOutcome[]): Map<string, FrameOutcome> {
  return new Map(list.map((o) => [o.id, o]));
}

const ok = (id: string, classIndex: number, e2eMs: number, exit = 3): FrameOutcome => ({ id, outcome: 'ok', exit, classIndex, e2eMs, deadlineMet: true });

describe('loadRow', () => {
  it('counts every offered frame: missing, shed and errors are misses; accuracy of answered and of offered', () => {
    const frames = offered(10);
    const got = outcomes([
      ok('f-0', 0, 10),
      ok('f-1', 1, 20),
      ok('f-2', 0, 30, 1), // wrong (label 2)
      { id: 'f-3', outcome: 'late', exit: 1, classIndex: 0, e2eMs: 80, deadlineMet: false }, // right, late
      { id: 'f-4', outcome: 'shed', deadlineMet: false, reason: 'no-slack' },
      { id: 'f-5', outcome: 'shed', deadlineMet: false, reason: 'no-slack' },
      { id: 'f-6', outcome: 'shed', deadlineMet: false, reason: 'overload' },
      { id: 'f-7', outcome: 'error', deadlineMet: false, reason: 'bad-jpeg' },
      // f-8, f-9: no outcome (lost at the broker)
      ok('other-1', 1, 5), // another load's frame: ignored
    ]);
    const row = loadRow(2, frames, got, 1);
    expect(row).toMatchObject({
      load: 2,
      offered: 10,
      offered_fps: 10,
      ontime: 3,
      ontime_fps: 3,
      attainment: 0.3,
      answered: 4,
      late: 1,
      missing: 2,
      exits: { '3': 2, '1': 2 },
      shed: { 'no-slack': 2, overload: 1 },
      errors: { 'bad-jpeg': 1 },
    });
    expect(row.accuracy).toBeCloseTo(3 / 4, 12);
    expect(row.accuracy_offered).toBeCloseTo(3 / 10, 12);
    expect(row.p50_ms).toBe(20);
    expect(row.p99_ms).toBe(80);
  });

  it('an ok outcome that says it missed its deadline is not on time', () => {
    const row = loadRow(1, offered(1), outcomes([{ ...ok('f-0', 0, 60), deadlineMet: false }]), 1);
    expect(row.ontime).toBe(0);
    expect(row.answered).toBe(1);
  });

  it('an empty load gives zeros and null percentiles, not NaN', () => {
    const row = loadRow(1, [], new Map(), 5);
    expect(row.attainment).toBe(0);
    expect(row.p99_ms).toBeNull();
  });
});

describe('nearestRank', () => {
  it('matches the nearest-rank definition', () => {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(nearestRank(values, 0.5)).toBe(50);
    expect(nearestRank(values, 0.99)).toBe(99);
    expect(nearestRank([7], 0.99)).toBe(7);
  });
});

describe('perSecondTable', () => {
  it('places frames by capture time into whole seconds of each segment and restarts the count at each change', () => {
    const segments = [
      { load: 0.5, startMs: T0, seconds: 2 },
      { load: 4, startMs: T0 + 2_000, seconds: 1.5 }, // the half second at the end is not a whole second: dropped
    ];
    const frames = [...offered(20, 'a', T0, 10), ...offered(15, 'b', T0 + 2_000, 10)];
    const got = outcomes([
      ...frames.filter((f) => f.id.startsWith('a')).map((f) => ok(f.id, f.label, 5)),
      // In the first second of the burst only 5 of 10 are answered on time, the rest shed.
      ...frames.filter((f) => f.id.startsWith('b')).slice(0, 5).map((f) => ok(f.id, f.label, 5)),
      ...frames.filter((f) => f.id.startsWith('b')).slice(5, 10).map((f): FrameOutcome => ({ id: f.id, outcome: 'shed', deadlineMet: false, reason: 'overload' })),
    ]);
    const table = perSecondTable(segments, frames, got);
    expect(table.map((r) => [r.second, r.load, r.second_of_segment, r.offered, r.ontime])).toEqual([
      [0, 0.5, 0, 10, 10],
      [1, 0.5, 1, 10, 10],
      [2, 4, 0, 10, 5],
    ]);
    expect(table[2]).toMatchObject({ attainment: 0.5, shed: 5, missing: 0 });
  });
});

describe('capacity search', () => {
  const probe = (fps: number, attainment: number): CapacityProbe => ({ fps, attainment, nonFinal: 0 });

  it('doubles while probes pass, then bisects geometrically until within the tolerance', () => {
    const probes: CapacityProbe[] = [];
    const trueCapacity = 137;
    for (let fps = nextCapacityProbe(probes, 50); fps !== undefined; fps = nextCapacityProbe(probes, 50)) {
      probes.push(probe(fps, fps <= trueCapacity ? 1 : 0.5));
    }
    expect(probes.slice(0, 3).map((p) => p.fps)).toEqual([50, 100, 200]);
    const c = capacityOf(probes);
    expect(c).toBeLessThanOrEqual(trueCapacity);
    expect(c).toBeGreaterThan(trueCapacity / 1.1);
  });

  it('halves from the start when even the first probe fails, and gives 0 when nothing passes', () => {
    expect(nextCapacityProbe([probe(50, 0.5)], 50)).toBe(25);
    expect(capacityOf([probe(50, 0.5)])).toBe(0);
  });

  it('99% on time passes, just under fails', () => {
    expect(capacityOf([probe(10, 0.99), probe(20, 0.9899)])).toBe(10);
  });
});

function row(load: number, fields: Partial<LoadRow> = {}): LoadRow {
  return { ...loadRow(load, [], new Map(), 1), attainment: 1, accuracy: 0.99, ontime_fps: 100, p99_ms: 40, ...fields };
}

describe('verdicts', () => {
  const steady = [row(0.5), row(1), row(2, { attainment: 0.995, accuracy: 0.965 }), row(4, { ontime_fps: 95 }), row(8, { ontime_fps: 89, p99_ms: 51 })];

  it('checks 2x attainment and accuracy, 4x/8x throughput, single outcomes and p99', () => {
    const result = verdicts({ steady, finalAccuracy: 0.99, deadlineMs: 50, transients: [] });
    expect(result.map((v) => [v.name, v.pass])).toEqual([
      ['2xC', true], // 96.5% >= 99% - 3 points
      ['4xC', true], // 95 >= 0.9 x 100
      ['8xC', false], // 89 < 90 and p99 51 > 50
    ]);
  });

  it('fails 2x when accuracy is more than 3 points below the final exit', () => {
    const result = verdicts({ steady: [row(2, { accuracy: 0.955 })], finalAccuracy: 0.99, deadlineMs: 50, transients: [] });
    expect(result[0]).toMatchObject({ name: '2xC', pass: false });
  });

  it('says when the 4x rule cannot be met because the service answers more at 8x than 4x offers', () => {
    const unsaturated = [row(4, { offered_fps: 100, ontime_fps: 99 }), row(8, { offered_fps: 200, ontime_fps: 150 })];
    const four = verdicts({ steady: unsaturated, finalAccuracy: 0.99, deadlineMs: 50, transients: [] }).find((v) => v.name === '4xC');
    expect(four?.pass).toBe(false);
    expect(four?.detail).toContain('unreachable: 4x offers only 100.0 fps');
    const saturated = verdicts({ steady: [row(4, { offered_fps: 400, ontime_fps: 120 }), row(8, { offered_fps: 800, ontime_fps: 150 })], finalAccuracy: 0.99, deadlineMs: 50, transients: [] });
    expect(saturated.find((v) => v.name === '4xC')?.detail).not.toContain('unreachable');
  });

  it('fails 4x when a frame had no outcome or two', () => {
    const missing = verdicts({ steady: [row(4, { missing: 1 })], finalAccuracy: 0.99, deadlineMs: 50, transients: [] });
    expect(missing.find((v) => v.name === '4xC')?.pass).toBe(false);
    const duplicated = verdicts({ steady: [{ ...row(4), duplicates: 2 }], finalAccuracy: 0.99, deadlineMs: 50, transients: [] });
    expect(duplicated.find((v) => v.name === '4xC')?.pass).toBe(false);
  });

  it('judges transients from the second second of each change against that load`s steady attainment', () => {
    const steadyRows = [row(0.5, { attainment: 1 }), row(1, { attainment: 0.99 }), row(4, { attainment: 0.9 })];
    const second = (s: number, load: number, of: number, attainment: number) => ({ second: s, load, second_of_segment: of, offered: 10, ontime: 0, attainment, answered: 0, shed: 0, errors: 0, missing: 0 });
    const good = [second(0, 0.5, 0, 1), second(1, 4, 0, 0.2), second(2, 4, 1, 0.86), second(3, 0.5, 0, 0.5), second(4, 0.5, 1, 0.96)];
    expect(verdicts({ steady: steadyRows, finalAccuracy: 0.99, deadlineMs: 50, transients: [{ name: 'burst', seconds: good }] }).at(-1)?.pass).toBe(true);
    const bad = [...good, second(5, 0.5, 2, 0.94)];
    const verdict = verdicts({ steady: steadyRows, finalAccuracy: 0.99, deadlineMs: 50, transients: [{ name: 'burst', seconds: bad }] }).at(-1);
    expect(verdict?.pass).toBe(false);
    expect(verdict?.detail).toContain('s5');
  });

  it('holds a load with no steady row (0.1x) to the lightest heavier steady load', () => {
    expect(referenceAttainment([row(0.5, { attainment: 0.97 }), row(1, { attainment: 0.95 })], 0.1)).toEqual({ load: 0.5, attainment: 0.97 });
    expect(referenceAttainment([row(0.5)], 16)).toBeUndefined();
  });
});

describe('cpu split', () => {
  // root → (idle); root → mqtt lib → src/sources/mqtt-source → src/decode/image → sharp (leaf)
  //                                                          → src/model/multi-exit-runner → ORT's run
  //                  root → src/sinks/influx-writer → src/sources/mqtt-ack-tracker → src/sources/mqtt-transport puback → mqtt lib
  const frame = (functionName: string, url: string) => ({ functionName, url });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)', ''), children: [2, 3, 8, 12] },
      { id: 2, callFrame: frame('(idle)', '') },
      { id: 3, callFrame: frame('handle', 'file:///app/node_modules/mqtt/build/lib/client.js'), children: [4] },
      { id: 4, callFrame: frame('onPublish', 'file:///app/src/sources/mqtt-source.ts'), children: [5, 6] },
      { id: 5, callFrame: frame('decodeImage', 'file:///app/src/decode/image.ts') },
      { id: 6, callFrame: frame('runBatch', 'file:///app/src/model/multi-exit-runner.ts'), children: [7] },
      { id: 7, callFrame: frame('run', 'file:///app/node_modules/onnxruntime-node/dist/backend.js') },
      { id: 8, callFrame: frame('flush', 'file:///app/src/sinks/influx-writer.ts'), children: [9] },
      { id: 9, callFrame: frame('ack', 'file:///app/src/sources/mqtt-ack-tracker.ts'), children: [10] },
      { id: 10, callFrame: frame('puback', 'file:///app/src/sources/mqtt-transport.ts'), children: [11] },
      { id: 11, callFrame: frame('_sendPacket', 'file:///app/node_modules/mqtt/build/lib/client.js') },
      { id: 12, callFrame: frame('(garbage collector)', '') },
    ],
    startTime: 1_000,
    endTime: 10_000,
    samples: [2, 5, 7, 11, 3, 12, 5],
    timeDeltas: [100, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000],
  };

  it('puts each sample in the category of the innermost EdgeKE frame on its stack', () => {
    const categories = categoriseNodes(profile);
    expect([2, 5, 7, 11, 3, 4, 12].map((id) => categories.get(id))).toEqual(['idle', 'decode', 'inference', 'ack', 'receive', 'receive', 'gc']);
  });

  it('reads the stage from the pipeline operator files, and a deeper EdgeKE frame still wins', () => {
    const staged: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)', ''), children: [2] },
        { id: 2, callFrame: frame('decodeMessages', 'file:///app/src/pipeline/operators/decode-messages.ts'), children: [3, 4] },
        { id: 3, callFrame: frame('JSON.parse', '') },
        { id: 4, callFrame: frame('parseJsonEnvelope', 'file:///app/src/decode/json-envelope.ts') },
      ],
      startTime: 0,
      endTime: 1,
      samples: [],
      timeDeltas: [],
    };
    const categories = categoriseNodes(staged);
    expect([2, 3, 4].map((id) => categories.get(id))).toEqual(['decode', 'decode', 'decode']);
    const acked = categoriseNodes({ ...staged, nodes: [{ id: 1, callFrame: frame('ackStored', 'file:///app/src/pipeline/operators/acknowledge-stored.ts') }] });
    expect(acked.get(1)).toBe('ack');
  });

  it('sums sample time per window, leaving idle out', () => {
    // Sample times: 1100 (idle), 2100, 3100, 4100, 5100, 6100, 7100.
    const split = samplesPerWindow(profile, [
      { name: 'a', startUs: 2_000, endUs: 4_000 },
      { name: 'b', startUs: 4_000, endUs: 8_000 },
    ]);
    expect(split.get('a')).toMatchObject({ decode: 1_000, inference: 1_000, ack: 0 });
    expect(split.get('b')).toMatchObject({ ack: 1_000, receive: 1_000, gc: 1_000, decode: 1_000 });
  });

  it('splits the main thread`s measured CPU in the sample proportions, per frame, with the other threads beside it', () => {
    const counts = { receive: 1, decode: 3, plan: 0, inference: 0, sinks: 0, ack: 0, pipeline: 0, gc: 0, other: 0 };
    const perFrame = cpuPerFrame({ main: 400, offMain: 100, profiler: 20 }, counts, 100);
    expect(perFrame).toMatchObject({ receive: 1, decode: 3, main_thread: 4, off_main_thread: 1, profiler: 0.2, profiled: true });
    expect(perFrame.total).toBeCloseTo(5.2, 12);
    expect(cpuPerFrame({ main: 400, offMain: 0, profiler: 0 }, undefined, 100)).toMatchObject({ other: 4, profiled: false });
  });

  it('knows the main thread and the profiler threads', () => {
    expect(threadRole(10, 10, 'node')).toBe('main');
    expect(threadRole(12, 10, 'v8:ProfEvntProc')).toBe('profiler');
    expect(threadRole(13, 10, 'node')).toBe('offMain');
  });
});

import type { TelemetryPoint } from './influx-loader.ts';

/**
 * Synthetic but realistic telemetry, shaped exactly as docs/telemetry.md says the InfluxDB sink writes it: one
 * `inference` point per frame (all four outcomes, several exits, hot-reloaded deadlines) and one `flow_stats` point
 * per flow per interval, computed from those same frames. Deterministic (seeded), so failures reproduce.
 */

export interface ConfigChange {
  /** Offset from the start of the run (ms) at which this config version takes over. */
  atMs: number;
  version: number;
  deadlineMs: number;
}

export interface SyntheticFlow {
  name: string;
  model: string;
  engine: 'onnx' | 'tfjs';
  classes: string[];
  /** Model time (ms) of each exit, deepest last. */
  exitInferMs: number[];
  fps: number;
  /** First entry must be at 0. */
  configs: ConfigChange[];
  /** Whether devices send labels (simulators replaying a labelled test split). */
  labelled: boolean;
  /** Whether devices send capture times (else the receive time stands in). */
  deviceClock: boolean;
}

export interface SyntheticRun {
  startMs: number;
  durationMs: number;
  statsIntervalMs: number;
  flows: SyntheticFlow[];
  seed?: number;
}

export interface SyntheticTelemetry {
  points: TelemetryPoint[];
  /** Capture-time range covered by the points (ms). */
  fromMs: number;
  toMs: number;
  /** Per flow: times (ms, absolute) at which a new config version took over. */
  configChanges: Map<string, { atMs: number; version: number }[]>;
}

export const DEFAULT_FLOWS: SyntheticFlow[] = [
  {
    name: 'camera-neu',
    model: 'neu-multiexit',
    engine: 'onnx',
    classes: ['crazing', 'inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', 'scratches'],
    exitInferMs: [3, 7, 13, 22],
    fps: 8,
    configs: [
      { atMs: 0, version: 1, deadlineMs: 50 },
      { atMs: 8 * 60_000, version: 2, deadlineMs: 25 },
      { atMs: 16 * 60_000, version: 3, deadlineMs: 40 },
    ],
    labelled: true,
    deviceClock: true,
  },
  {
    name: 'bearing-cwru',
    model: 'cwru-multiexit',
    engine: 'onnx',
    classes: ['normal', 'inner_race', 'ball', 'outer_race'],
    exitInferMs: [1, 2.5, 5],
    fps: 12,
    configs: [
      { atMs: 0, version: 1, deadlineMs: 20 },
      { atMs: 12 * 60_000, version: 2, deadlineMs: 8 },
    ],
    labelled: true,
    deviceClock: true,
  },
  {
    name: 'press_line2-opcua',
    model: 'cwru-multiexit',
    engine: 'tfjs',
    classes: ['normal', 'inner_race', 'ball', 'outer_race'],
    exitInferMs: [2, 4, 8],
    fps: 4,
    configs: [{ atMs: 0, version: 1, deadlineMs: 30 }],
    labelled: false,
    deviceClock: false,
  },
];

/** mulberry32: small, fast, good enough for test data. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** FNV-1a of the frame id: the sub-millisecond part of the point's timestamp (docs/telemetry.md). */
function idHash(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i += 1) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193) >>> 0;
  return hash;
}

export function inferenceTimestampNs(captureTs: number, id: string): bigint {
  return BigInt(Math.round(captureTs)) * 1_000_000n + BigInt(idHash(id) % 1_000_000);
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? 0;
}

interface FrameSummary {
  outcome: 'ok' | 'late' | 'shed' | 'error';
  exit?: number;
  e2eMs: number;
}

export function syntheticTelemetry(run: SyntheticRun): SyntheticTelemetry {
  const next = random(run.seed ?? 20_210_901);
  const points: TelemetryPoint[] = [];
  const configChanges = new Map<string, { atMs: number; version: number }[]>();
  const endMs = run.startMs + run.durationMs;

  for (const flow of run.flows) {
    configChanges.set(
      flow.name,
      flow.configs.slice(1).map((config) => ({ atMs: run.startMs + config.atMs, version: config.version })),
    );
    const configAt = (offsetMs: number): ConfigChange => {
      let current = flow.configs[0];
      for (const config of flow.configs) if (config.atMs <= offsetMs) current = config;
      if (current === undefined) throw new Error(`flow ${flow.name} has no config`);
      return current;
    };
    const periodMs = 1_000 / flow.fps;
    let interval: FrameSummary[] = [];
    let intervalEnd = run.startMs + run.statsIntervalMs;
    let frameNumber = 0;
    // Load waves: the queue builds up and drains, pushing the controller to shallower exits and some sheds.
    const load = (t: number): number => 0.5 + 0.5 * Math.sin((2 * Math.PI * (t - run.startMs)) / (7 * 60_000));

    const flushStats = (): void => {
      const config = configAt(intervalEnd - run.startMs);
      const answered = interval.filter((frame) => frame.outcome === 'ok' || frame.outcome === 'late');
      const sorted = answered.map((frame) => frame.e2eMs).sort((a, b) => a - b);
      const count = (outcome: FrameSummary['outcome']): number => interval.filter((frame) => frame.outcome === outcome).length;
      const fields: TelemetryPoint['fields'] = {
        frames: BigInt(interval.length),
        ok: BigInt(count('ok')),
        late: BigInt(count('late')),
        shed: BigInt(count('shed')),
        error: BigInt(count('error')),
        throughput_fps: interval.length / (run.statsIntervalMs / 1_000),
        attainment: interval.length === 0 ? 1 : count('ok') / interval.length,
        p50_ms: percentile(sorted, 50),
        p95_ms: percentile(sorted, 95),
        p99_ms: percentile(sorted, 99),
        deadline_ms: config.deadlineMs,
        queue_depth: BigInt(Math.round(load(intervalEnd) * 6 * next())),
        config_version: BigInt(config.version),
        sink_buffer: BigInt(Math.round(next() * 40)),
        sink_dropped: BigInt(next() < 0.05 ? 1 + Math.floor(next() * 3) : 0),
      };
      flow.exitInferMs.forEach((_, index) => {
        fields[`exit_${index + 1}`] = BigInt(answered.filter((frame) => frame.exit === index + 1).length);
      });
      points.push({ measurement: 'flow_stats', tags: { flow: flow.name, model: flow.model }, fields, timestampNs: BigInt(intervalEnd) * 1_000_000n });
      interval = [];
      intervalEnd += run.statsIntervalMs;
    };

    for (let captureTs = run.startMs + next() * periodMs; captureTs < endMs; captureTs += periodMs * (0.8 + 0.4 * next())) {
      while (captureTs >= intervalEnd) flushStats();
      frameNumber += 1;
      const id = `${flow.name}-${frameNumber}`;
      const config = configAt(captureTs - run.startMs);
      const pressure = load(captureTs);
      const tags = { flow: flow.name, model: flow.model, engine: flow.engine };
      const common = {
        id,
        deadline_ms: config.deadlineMs,
        config_version: BigInt(config.version),
        capture_ts_source: flow.deviceClock ? 'device' : 'receive',
      };
      const roll = next();
      const timestampNs = inferenceTimestampNs(captureTs, id);
      const networkMs = flow.deviceClock ? 1 + 3 * next() : 0;
      const queueMs = pressure * pressure * config.deadlineMs * 0.6 * next();

      if (roll < 0.01 + 0.04 * pressure) {
        const reason = next() < 0.7 ? 'no-slack' : 'queue-full';
        const e2eMs = networkMs + queueMs;
        points.push({
          measurement: 'inference',
          tags: { ...tags, exit: 'none', outcome: 'shed' },
          fields: { ...common, reason, queue_ms: queueMs, infer_ms: 0, e2e_ms: e2eMs, deadline_met: false },
          timestampNs,
        });
        interval.push({ outcome: 'shed', e2eMs });
        continue;
      }
      if (roll > 0.992) {
        const reason = flow.name.startsWith('camera') ? 'bad-jpeg' : 'bad-window';
        const e2eMs = networkMs + 0.3;
        points.push({
          measurement: 'inference',
          tags: { ...tags, exit: 'none', outcome: 'error' },
          fields: { ...common, reason, queue_ms: 0, infer_ms: 0, e2e_ms: e2eMs, deadline_met: false },
          timestampNs,
        });
        interval.push({ outcome: 'error', e2eMs });
        continue;
      }

      // The controller's pick: the deepest exit whose cost fits the remaining slack, sometimes stopping earlier on
      // a confident early exit; when nothing fits, exit 1 answers late.
      const slack = config.deadlineMs - networkMs - queueMs;
      let exit = 1;
      flow.exitInferMs.forEach((cost, index) => {
        if (cost * 1.1 <= slack) exit = index + 1;
      });
      if (exit > 1 && next() < 0.25) exit -= 1;
      const inferMs = (flow.exitInferMs[exit - 1] ?? 1) * (0.85 + 0.5 * next());
      const e2eMs = networkMs + queueMs + inferMs;
      const deadlineMet = e2eMs <= config.deadlineMs;
      const outcome = deadlineMet ? 'ok' : 'late';
      const confidence = Math.min(0.999, 0.45 + 0.12 * exit + 0.2 * next());
      const label = Math.floor(next() * flow.classes.length);
      const classIndex = next() < 0.6 + 0.08 * exit ? label : Math.floor(next() * flow.classes.length);
      const fields: TelemetryPoint['fields'] = {
        ...common,
        class: flow.classes[classIndex] ?? 'unknown',
        class_index: BigInt(classIndex),
        confidence,
        queue_ms: queueMs,
        infer_ms: inferMs,
        e2e_ms: e2eMs,
        deadline_met: deadlineMet,
      };
      if (flow.labelled) {
        fields.label = BigInt(label);
        fields.correct = classIndex === label;
      }
      points.push({ measurement: 'inference', tags: { ...tags, exit: String(exit), outcome }, fields, timestampNs });
      interval.push({ outcome, exit, e2eMs });
    }
    while (intervalEnd <= endMs) flushStats();
  }
  return { points, fromMs: run.startMs, toMs: endMs, configChanges };
}

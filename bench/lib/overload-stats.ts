/**
 * The pure parts of the overload benchmark (bench/overload.ts): from what the load generator offered and what the
 * service recorded per frame, the per-load rows, the per-second tables of the burst and step, the capacity search and
 * the acceptance verdicts of issue #13. No I/O here; tested with fabricated frames in test/bench/.
 */

/** A frame the load generator published (and the broker acknowledged, or not). */
export interface OfferedFrame {
  id: string;
  /** Capture time (ms since epoch) sent as the `ts` user property / JSON field. */
  ts: number;
  /** True class index (kept by the load generator, never sent). */
  label: number;
}

export type Outcome = 'ok' | 'late' | 'shed' | 'error';

/** What the service recorded for a frame (one `inference` point in InfluxDB). */
export interface FrameOutcome {
  id: string;
  outcome: Outcome;
  exit?: number;
  classIndex?: number;
  e2eMs?: number;
  deadlineMet: boolean;
  reason?: string;
  queueMs?: number;
  inferMs?: number;
}

export interface LoadRow {
  load: number;
  offered: number;
  offered_fps: number;
  ontime: number;
  ontime_fps: number;
  /** On-time answers / offered frames: a shed frame, an error and a frame with no outcome are all misses. */
  attainment: number;
  /** Correct / answered (ok + late). */
  accuracy: number;
  /** Correct / offered: an unanswered frame counts as wrong. */
  accuracy_offered: number;
  answered: number;
  late: number;
  exits: Record<string, number>;
  shed: Record<string, number>;
  errors: Record<string, number>;
  /** Offered frames with no outcome at all (lost at the broker, or never answered). */
  missing: number;
  /** Outcomes for ids that were never offered (should be 0). */
  unexpected: number;
  /** e2e latency percentiles of answered frames (ms). */
  p50_ms: number | null;
  p99_ms: number | null;
}

/** The q-quantile (nearest rank, as src/sinks/flow-stats.ts) of ascending values; null when empty. */
export function nearestRank(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] as number;
}

function bump(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** An answer counts as on time when the service answered it (`ok`) within its deadline. */
export function isOnTime(outcome: FrameOutcome | undefined): boolean {
  return outcome !== undefined && outcome.outcome === 'ok' && outcome.deadlineMet;
}

/**
 * One row of the table: `offered` are the frames of this load, `outcomes` every outcome read back (keyed by id; ids of
 * other loads are ignored). `seconds` is how long the load was offered; `unexpected` is the caller's count of
 * outcomes carrying this load's id prefix but no id it offered.
 */
export function loadRow(load: number, offered: readonly OfferedFrame[], outcomes: ReadonlyMap<string, FrameOutcome>, seconds: number, unexpected = 0): LoadRow {
  const exits: Record<string, number> = {};
  const shed: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const latencies: number[] = [];
  let ontime = 0;
  let answered = 0;
  let late = 0;
  let correct = 0;
  let missing = 0;
  for (const frame of offered) {
    const outcome = outcomes.get(frame.id);
    if (outcome === undefined) {
      missing += 1;
      continue;
    }
    if (isOnTime(outcome)) ontime += 1;
    if (outcome.outcome === 'ok' || outcome.outcome === 'late') {
      answered += 1;
      if (outcome.outcome === 'late') late += 1;
      bump(exits, String(outcome.exit ?? 'none'));
      if (outcome.classIndex === frame.label) correct += 1;
      if (outcome.e2eMs !== undefined) latencies.push(outcome.e2eMs);
    } else if (outcome.outcome === 'shed') bump(shed, outcome.reason ?? 'unknown');
    else bump(errors, outcome.reason ?? 'unknown');
  }
  latencies.sort((a, b) => a - b);
  const n = offered.length;
  return {
    load,
    offered: n,
    offered_fps: n / seconds,
    ontime,
    ontime_fps: ontime / seconds,
    attainment: n === 0 ? 0 : ontime / n,
    accuracy: answered === 0 ? 0 : correct / answered,
    accuracy_offered: n === 0 ? 0 : correct / n,
    answered,
    late,
    exits,
    shed,
    errors,
    missing,
    unexpected,
    p50_ms: nearestRank(latencies, 0.5),
    p99_ms: nearestRank(latencies, 0.99),
  };
}

/** A stretch of constant offered load inside a burst or step run. */
export interface Segment {
  /** Multiple of the capacity C. */
  load: number;
  /** When the segment started (ms since epoch) and how long it lasted. */
  startMs: number;
  seconds: number;
}

export interface SecondRow {
  /** Seconds since the run started. */
  second: number;
  load: number;
  /** Seconds since the segment (load change) started: 0 is the first second of a change. */
  second_of_segment: number;
  offered: number;
  ontime: number;
  attainment: number | null;
  answered: number;
  shed: number;
  errors: number;
  missing: number;
}

/**
 * Per-second table of a run made of segments: frames are placed by capture time. Only whole seconds of a segment
 * are listed (a partial tail second would compare a fraction of a second with whole ones).
 */
export function perSecondTable(segments: readonly Segment[], offered: readonly OfferedFrame[], outcomes: ReadonlyMap<string, FrameOutcome>): SecondRow[] {
  const first = segments[0];
  if (first === undefined) return [];
  const rows: SecondRow[] = [];
  const index = new Map<number, SecondRow>();
  for (const segment of segments) {
    for (let s = 0; s < Math.floor(segment.seconds + 1e-9); s += 1) {
      const startMs = segment.startMs + s * 1000;
      const row: SecondRow = {
        second: Math.round((startMs - first.startMs) / 1000),
        load: segment.load,
        second_of_segment: s,
        offered: 0,
        ontime: 0,
        attainment: null,
        answered: 0,
        shed: 0,
        errors: 0,
        missing: 0,
      };
      rows.push(row);
      index.set(startMs, row);
    }
  }
  const latestFirst = [...segments].reverse();
  for (const frame of offered) {
    const segment = latestFirst.find((candidate) => frame.ts >= candidate.startMs);
    if (segment === undefined) continue;
    const s = Math.floor((frame.ts - segment.startMs) / 1000);
    const row = index.get(segment.startMs + s * 1000);
    if (row === undefined) continue;
    row.offered += 1;
    const outcome = outcomes.get(frame.id);
    if (outcome === undefined) row.missing += 1;
    else if (outcome.outcome === 'ok' || outcome.outcome === 'late') row.answered += 1;
    else if (outcome.outcome === 'shed') row.shed += 1;
    else row.errors += 1;
    if (isOnTime(outcome)) row.ontime += 1;
  }
  for (const row of rows) row.attainment = row.offered === 0 ? null : row.ontime / row.offered;
  return rows;
}

// ---------------------------------------------------------------------------------------------------------------
// Capacity search

export interface CapacityProbe {
  fps: number;
  attainment: number;
  /** Answers from an exit other than the final one: the probe did not measure what it claims when > 0. */
  nonFinal: number;
}

export const CAPACITY_ATTAINMENT = 0.99;

export function probePasses(probe: CapacityProbe): boolean {
  return probe.attainment >= CAPACITY_ATTAINMENT;
}

/**
 * The next rate to probe for capacity: double from `startFps` while probes pass, then bisect between the highest
 * pass and the lowest fail until they are within `tolerance` (relative). undefined when done.
 */
export function nextCapacityProbe(probes: readonly CapacityProbe[], startFps: number, tolerance = 0.1, maxProbes = 12): number | undefined {
  if (probes.length === 0) return startFps;
  if (probes.length >= maxProbes) return undefined;
  const passes = probes.filter(probePasses).map((p) => p.fps);
  const fails = probes.filter((p) => !probePasses(p)).map((p) => p.fps);
  const low = passes.length === 0 ? undefined : Math.max(...passes);
  const high = fails.length === 0 ? undefined : Math.min(...fails);
  if (high === undefined) return (low as number) * 2;
  if (low === undefined) return high <= startFps / 64 ? undefined : high / 2;
  if (high <= low * (1 + tolerance)) return undefined;
  return Math.sqrt(low * high);
}

/** Capacity from the probes: the highest passing rate (0 when none passed). */
export function capacityOf(probes: readonly CapacityProbe[]): number {
  return Math.max(0, ...probes.filter(probePasses).map((p) => p.fps));
}

// ---------------------------------------------------------------------------------------------------------------
// Verdicts (issue #13 acceptance targets)

export interface Verdict {
  name: string;
  pass: boolean;
  detail: string;
}

export interface RowWithDuplicates extends LoadRow {
  /** Frames that got more than one result message (from the results topic; 0 when not observed). */
  duplicates?: number;
}

export interface TransientRun {
  name: string;
  seconds: readonly SecondRow[];
}

const pct = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(1)}%`);

/** Steady attainment a transient segment is held to: the steady row at that load, else the lightest heavier one. */
export function referenceAttainment(steady: readonly LoadRow[], load: number): { load: number; attainment: number } | undefined {
  const exact = steady.find((row) => Math.abs(row.load - load) < 1e-9);
  if (exact !== undefined) return { load: exact.load, attainment: exact.attainment };
  const heavier = steady.filter((row) => row.load > load).sort((a, b) => a.load - b.load)[0];
  return heavier === undefined ? undefined : { load: heavier.load, attainment: heavier.attainment };
}

export function verdicts(options: {
  steady: readonly RowWithDuplicates[];
  finalAccuracy: number;
  deadlineMs: number;
  transients: readonly TransientRun[];
}): Verdict[] {
  const { steady, finalAccuracy, deadlineMs } = options;
  const out: Verdict[] = [];
  const peak = Math.max(0, ...steady.map((row) => row.ontime_fps));
  const at = (load: number): RowWithDuplicates | undefined => steady.find((row) => Math.abs(row.load - load) < 1e-9);

  const two = at(2);
  if (two === undefined) out.push({ name: '2xC', pass: false, detail: 'no 2x row measured' });
  else {
    const attainmentOk = two.attainment >= 0.99;
    const accuracyOk = two.accuracy >= finalAccuracy - 0.03;
    out.push({
      name: '2xC',
      pass: attainmentOk && accuracyOk,
      detail: `attainment ${pct(two.attainment)} (>= 99%: ${attainmentOk ? 'yes' : 'no'}), accuracy ${pct(two.accuracy)} (>= final ${pct(finalAccuracy)} - 3 points: ${accuracyOk ? 'yes' : 'no'})`,
    });
  }
  for (const load of [4, 8]) {
    const row = at(load);
    if (row === undefined) {
      out.push({ name: `${load}xC`, pass: false, detail: `no ${load}x row measured` });
      continue;
    }
    const throughputOk = row.ontime_fps >= 0.9 * peak;
    const oneOutcomeOk = row.missing === 0 && row.unexpected === 0 && (row.duplicates ?? 0) === 0;
    const latencyOk = row.p99_ms !== null && row.p99_ms <= deadlineMs;
    out.push({
      name: `${load}xC`,
      pass: throughputOk && oneOutcomeOk && latencyOk,
      detail:
        `ontime ${row.ontime_fps.toFixed(1)} fps (>= 0.9 x peak ${peak.toFixed(1)}: ${throughputOk ? 'yes' : 'no'}` +
        // The rule assumes the service saturates by this load: where it answers more at a higher load than this one
        // offers, no service could meet it here, and the row says so rather than hiding it.
        `${!throughputOk && row.offered_fps < 0.9 * peak ? `; unreachable: ${load}x offers only ${row.offered_fps.toFixed(1)} fps` : ''}), ` +
        `exactly one outcome per frame: ${oneOutcomeOk ? 'yes' : `no (${row.missing} missing, ${row.duplicates ?? 0} duplicated, ${row.unexpected} unexpected)`}, ` +
        `p99 ${row.p99_ms === null ? 'n/a' : row.p99_ms.toFixed(1)} ms (<= ${deadlineMs} ms: ${latencyOk ? 'yes' : 'no'})`,
    });
  }
  for (const run of options.transients) {
    const failures: string[] = [];
    for (const second of run.seconds) {
      if (second.second_of_segment === 0 || second.attainment === null) continue;
      const reference = referenceAttainment(steady, second.load);
      if (reference === undefined) {
        failures.push(`s${second.second}: no steady row at or above ${second.load}x`);
        continue;
      }
      if (second.attainment < reference.attainment - 0.05) {
        failures.push(`s${second.second} (${second.load}x) ${pct(second.attainment)} < steady ${reference.load}x ${pct(reference.attainment)} - 5`);
      }
    }
    out.push({
      name: run.name,
      pass: failures.length === 0,
      detail: failures.length === 0 ? 'every second from the second of each change on within 5 points of steady' : failures.join('; '),
    });
  }
  return out;
}

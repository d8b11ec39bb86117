import type { FrameResult, Outcome } from '../core/frame.ts';

/**
 * Per-flow, per-second tallies of the last few minutes of results: what the live status page (`GET /`, fed by
 * `GET /status.json`) and the demo's terminal table draw. Cheap enough to record every result: counts per second,
 * and a capped sample of latencies per second for the percentiles.
 */

export interface StatusSecond {
  /** Start of the second (ms since epoch, result time). */
  t: number;
  outcomes: Record<Outcome, number>;
  /** Answered frames by exit ("1", "2", ...). */
  exits: Record<string, number>;
  /** Shed and error frames by reason. */
  reasons: Record<string, number>;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Answered within the deadline / all frames (a shed frame is a miss); null with no frames. */
  onTime: number | null;
  /** Correct / labelled answers; null when no answer carried a label. */
  accuracy: number | null;
}

/** A change worth marking on the charts: a new config version or a new model of a flow. */
export interface StatusMark {
  t: number;
  text: string;
}

export interface FlowStatus {
  name: string;
  model: string;
  /** The serving model's version (content hash of its folder); changes when the model is swapped. */
  modelVersion: string | null;
  deadlineMs: number;
  configVersion: number;
  seconds: StatusSecond[];
  marks: StatusMark[];
}

export interface StatusSnapshot {
  /** Server time of the snapshot (ms since epoch). */
  now: number;
  flows: FlowStatus[];
}

interface SecondTally {
  t: number;
  outcomes: Record<Outcome, number>;
  exits: Map<string, number>;
  reasons: Map<string, number>;
  latencies: number[];
  correct: number;
  labelled: number;
}

interface FlowTally {
  model: string;
  modelVersion: string | null;
  /** Models this flow was swapped away from (`name@version`), with when. */
  replaced: Map<string, number>;
  deadlineMs: number;
  configVersion: number;
  seconds: SecondTally[];
  marks: StatusMark[];
}

export interface StatusBoardOptions {
  /** Seconds kept per flow (default 300). */
  historySeconds?: number;
  /** Latencies kept per second for the percentiles (default 2,000; beyond that a reservoir sample). */
  latencySamplesPerSecond?: number;
  now?: () => number;
}

const MARKS_KEPT = 50;
/** After a model swap, results of the replaced model for this long are frames that were in flight at the swap. */
const STRAGGLERS_MS = 10_000;

export class StatusBoard {
  private readonly flows = new Map<string, FlowTally>();
  private readonly historySeconds: number;
  private readonly latencySamples: number;
  private readonly now: () => number;

  constructor(options: StatusBoardOptions = {}) {
    this.historySeconds = options.historySeconds ?? 300;
    this.latencySamples = options.latencySamplesPerSecond ?? 2_000;
    this.now = options.now ?? Date.now;
  }

  record(result: FrameResult, label: number | undefined = result.label): void {
    const now = this.now();
    const flow = this.flowTally(result, now);
    const second = this.secondTally(flow, Math.floor(now / 1_000) * 1_000);
    second.outcomes[result.outcome] += 1;
    if (result.outcome === 'ok' || result.outcome === 'late') {
      if (result.exit !== undefined) increment(second.exits, String(result.exit));
      const seen = second.outcomes.ok + second.outcomes.late;
      if (second.latencies.length < this.latencySamples) second.latencies.push(result.e2eMs);
      else {
        // Reservoir sampling keeps the percentiles fair when a second has more answers than the cap.
        const slot = Math.floor(Math.random() * seen);
        if (slot < this.latencySamples) second.latencies[slot] = result.e2eMs;
      }
      if (label !== undefined && result.classIndex !== undefined) {
        second.labelled += 1;
        if (label === result.classIndex) second.correct += 1;
      }
    } else {
      increment(second.reasons, result.reason ?? 'unknown');
    }
  }

  /** A flow left the service: its history goes with it. */
  removeFlow(name: string): void {
    this.flows.delete(name);
  }

  /** The last `seconds` seconds of every flow (default: all kept). Complete seconds only, plus the current one. */
  snapshot(seconds = this.historySeconds): StatusSnapshot {
    const now = this.now();
    const since = now - seconds * 1_000;
    return {
      now,
      flows: [...this.flows.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, flow]) => ({
          name,
          model: flow.model,
          modelVersion: flow.modelVersion,
          deadlineMs: flow.deadlineMs,
          configVersion: flow.configVersion,
          seconds: flow.seconds.filter((second) => second.t >= since).map(summarise),
          marks: flow.marks.filter((mark) => mark.t >= since),
        })),
    };
  }

  private flowTally(result: FrameResult, now: number): FlowTally {
    let flow = this.flows.get(result.flow);
    if (flow === undefined) {
      const modelVersion = result.modelVersion ?? null;
      flow = { model: result.model, modelVersion, replaced: new Map(), deadlineMs: result.deadlineMs, configVersion: result.configVersion, seconds: [], marks: [] };
      flow.marks.push({ t: now, text: `config v${result.configVersion}, model ${modelLabel(result.model, modelVersion)}` });
      this.flows.set(result.flow, flow);
      return flow;
    }
    // Frames that finish on a swapped-out model just after the swap still carry its version: they neither mark the
    // chart again nor take the flow back to it. Later, that version is a swap back.
    const model = `${result.model}@${result.modelVersion ?? flow.modelVersion ?? ''}`;
    const current = `${flow.model}@${flow.modelVersion ?? ''}`;
    const straggler = now - (flow.replaced.get(model) ?? -Infinity) < STRAGGLERS_MS;
    const modelChanged = model !== current && !straggler;
    if (flow.configVersion !== result.configVersion || modelChanged) {
      const changes = [
        ...(flow.configVersion === result.configVersion ? [] : [`config v${result.configVersion}`]),
        ...(modelChanged ? [`model ${modelLabel(result.model, result.modelVersion ?? null)}`] : []),
      ];
      flow.marks.push({ t: now, text: changes.join(', ') });
      if (flow.marks.length > MARKS_KEPT) flow.marks.shift();
      flow.configVersion = result.configVersion;
      if (modelChanged) {
        flow.replaced.set(current, now);
        flow.replaced.delete(model);
        flow.model = result.model;
        flow.modelVersion = result.modelVersion ?? flow.modelVersion;
      }
    }
    flow.deadlineMs = result.deadlineMs;
    return flow;
  }

  private secondTally(flow: FlowTally, t: number): SecondTally {
    const last = flow.seconds.at(-1);
    if (last !== undefined && last.t >= t) return last;
    const second: SecondTally = { t, outcomes: { ok: 0, late: 0, shed: 0, error: 0 }, exits: new Map(), reasons: new Map(), latencies: [], correct: 0, labelled: 0 };
    flow.seconds.push(second);
    const oldest = t - this.historySeconds * 1_000;
    while ((flow.seconds[0]?.t ?? t) < oldest) flow.seconds.shift();
    return second;
  }
}

function modelLabel(name: string, version: string | null): string {
  return version === null ? name : `${name} ${version}`;
}

function increment(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

function summarise(second: SecondTally): StatusSecond {
  const sorted = [...second.latencies].sort((a, b) => a - b);
  const frames = second.outcomes.ok + second.outcomes.late + second.outcomes.shed + second.outcomes.error;
  return {
    t: second.t,
    outcomes: { ...second.outcomes },
    exits: Object.fromEntries([...second.exits.entries()].sort(([a], [b]) => Number(a) - Number(b))),
    reasons: Object.fromEntries(second.reasons),
    p50Ms: sorted.length === 0 ? null : nearestRank(sorted, 0.5),
    p99Ms: sorted.length === 0 ? null : nearestRank(sorted, 0.99),
    onTime: frames === 0 ? null : second.outcomes.ok / frames,
    accuracy: second.labelled === 0 ? null : second.correct / second.labelled,
  };
}

function nearestRank(sorted: readonly number[], quantile: number): number {
  return sorted[Math.max(1, Math.ceil(quantile * sorted.length)) - 1] as number;
}

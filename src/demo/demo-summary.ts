import type { FrameResult, Outcome } from '../core/frame.ts';
import { percentile } from '../sinks/flow-stats.ts';

export interface FlowSummary {
  name: string;
  frames: number;
  outcomes: Record<Outcome, number>;
  /** Shed and error frames by reason (e.g. no-slack, overload, queue-full). */
  reasons: Record<string, number>;
  /** Frames answered within their deadline / all frames (a shed frame is a miss). */
  attainment: number;
  /** Correct answers / answered frames whose true label is known; null when no label was known. */
  accuracy: number | null;
  labelled: number;
  exits: Record<string, number>;
  p50Ms: number | null;
  p99Ms: number | null;
  deadlineMs: number;
}

/** Labels a result after the fact (the OPC UA demo flow: the class playing when the window was captured). */
export type LabelLookup = (result: FrameResult) => number | undefined;

interface FlowTally {
  outcomes: Record<Outcome, number>;
  reasons: Map<string, number>;
  exits: Map<number, number>;
  latencies: number[];
  correct: number;
  labelled: number;
  deadlineMs: number;
}

/** Per-flow running totals for the demo's table and its `--json` summary. */
export class DemoSummary {
  private readonly flows = new Map<string, FlowTally>();

  constructor(private readonly labelLookups: ReadonlyMap<string, LabelLookup> = new Map()) {}

  record(result: FrameResult): void {
    const tally = this.tally(result.flow);
    tally.outcomes[result.outcome] += 1;
    tally.deadlineMs = result.deadlineMs;
    if (result.outcome === 'shed' || result.outcome === 'error') {
      const reason = result.reason ?? 'unknown';
      tally.reasons.set(reason, (tally.reasons.get(reason) ?? 0) + 1);
    }
    if (result.outcome !== 'ok' && result.outcome !== 'late') return;
    if (result.exit !== undefined) tally.exits.set(result.exit, (tally.exits.get(result.exit) ?? 0) + 1);
    tally.latencies.push(result.e2eMs);
    const label = result.label ?? this.labelLookups.get(result.flow)?.(result);
    if (label !== undefined && result.classIndex !== undefined) {
      tally.labelled += 1;
      if (label === result.classIndex) tally.correct += 1;
    }
  }

  /** A flow's outcomes and exits so far (zeros before its first frame): cheap enough to read every few 100 ms. */
  counts(flow: string): Pick<FlowSummary, 'outcomes' | 'exits'> {
    const tally = this.flows.get(flow);
    if (tally === undefined) return { outcomes: { ok: 0, late: 0, shed: 0, error: 0 }, exits: {} };
    return { outcomes: { ...tally.outcomes }, exits: Object.fromEntries([...tally.exits].map(([exit, count]) => [String(exit), count])) };
  }

  summary(): FlowSummary[] {
    return [...this.flows.entries()].map(([name, tally]) => {
      const frames = Object.values(tally.outcomes).reduce((a, b) => a + b, 0);
      const sorted = [...tally.latencies].sort((a, b) => a - b);
      return {
        name,
        frames,
        outcomes: { ...tally.outcomes },
        reasons: Object.fromEntries(tally.reasons),
        attainment: frames === 0 ? 0 : tally.outcomes.ok / frames,
        accuracy: tally.labelled === 0 ? null : tally.correct / tally.labelled,
        labelled: tally.labelled,
        exits: Object.fromEntries([...tally.exits.entries()].sort(([a], [b]) => a - b).map(([exit, count]) => [String(exit), count])),
        p50Ms: sorted.length === 0 ? null : percentile(sorted, 0.5),
        p99Ms: sorted.length === 0 ? null : percentile(sorted, 0.99),
        deadlineMs: tally.deadlineMs,
      };
    });
  }

  private tally(flow: string): FlowTally {
    let tally = this.flows.get(flow);
    if (tally === undefined) {
      tally = { outcomes: { ok: 0, late: 0, shed: 0, error: 0 }, reasons: new Map(), exits: new Map(), latencies: [], correct: 0, labelled: 0, deadlineMs: 0 };
      this.flows.set(flow, tally);
    }
    return tally;
  }
}

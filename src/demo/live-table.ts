import type { FlowStatus, StatusSecond, StatusSnapshot } from '../telemetry/status-board.ts';
import type { FlowSummary } from './demo-summary.ts';

/**
 * The demo's per-second view. In a terminal: one compact table, redrawn in place, with a warning line for anything
 * that needs attention. Elsewhere: one JSON line per second. Both read the last complete second of the status board
 * (what the controller is doing now) and the running totals of the demo summary.
 */

export interface LiveRow {
  flow: string;
  framesPerSecond: number;
  /** Share of the last second's answers by exit. */
  exits: Record<string, number>;
  p50Ms: number | null;
  p99Ms: number | null;
  deadlineMs: number;
  onTime: number | null;
  shed: number;
  reasons: Record<string, number>;
  /** Running totals since the start. */
  totalOnTime: number;
  accuracy: number | null;
}

/** The last complete second of a flow (the current one is still filling). */
function lastComplete(flow: FlowStatus, now: number): StatusSecond | undefined {
  const current = Math.floor(now / 1_000) * 1_000;
  return flow.seconds.filter((second) => second.t < current).at(-1);
}

export function liveRows(snapshot: StatusSnapshot, totals: readonly FlowSummary[]): LiveRow[] {
  return snapshot.flows.map((flow) => {
    const second = lastComplete(flow, snapshot.now);
    const total = totals.find((summary) => summary.name === flow.name);
    const answered = second === undefined ? 0 : Object.values(second.exits).reduce((a, b) => a + b, 0);
    return {
      flow: flow.name,
      framesPerSecond: second === undefined ? 0 : Object.values(second.outcomes).reduce((a, b) => a + b, 0),
      exits: second === undefined || answered === 0 ? {} : Object.fromEntries(Object.entries(second.exits).map(([exit, n]) => [exit, n / answered])),
      p50Ms: second?.p50Ms ?? null,
      p99Ms: second?.p99Ms ?? null,
      deadlineMs: flow.deadlineMs,
      onTime: second?.onTime ?? null,
      shed: second?.outcomes.shed ?? 0,
      reasons: second?.reasons ?? {},
      totalOnTime: total?.attainment ?? 0,
      accuracy: total?.accuracy ?? null,
    };
  });
}

/** Below this share on time in one second, a flow gets a warning line. */
const ON_TIME_WARNING = 0.9;

export function warningLines(rows: readonly LiveRow[], lastLogWarning: string | undefined): string[] {
  const warnings: string[] = [];
  for (const row of rows) {
    if (row.onTime !== null && row.onTime < ON_TIME_WARNING) {
      const reasons = Object.entries(row.reasons).map(([reason, n]) => `${reason} ${n}`).join(', ');
      warnings.push(`! ${row.flow}: ${pct(row.onTime)} on time in the last second${reasons === '' ? '' : ` (${reasons})`}`);
    }
  }
  if (lastLogWarning !== undefined) warnings.push(`! log: ${lastLogWarning}`);
  return warnings;
}

function pct(x: number | null): string {
  return x === null ? '-' : `${(100 * x).toFixed(0)}%`;
}

function ms(x: number | null): string {
  return x === null ? '-' : x.toFixed(1);
}

export function tableLines(header: string, rows: readonly LiveRow[], warnings: readonly string[]): string[] {
  const cells = rows.map((row) => [
    row.flow,
    row.framesPerSecond.toFixed(0),
    Object.entries(row.exits).map(([exit, share]) => `e${exit} ${pct(share)}`).join(' ') || '-',
    `${ms(row.p50Ms)}/${ms(row.p99Ms)}`,
    String(row.deadlineMs),
    pct(row.onTime),
    pct(row.totalOnTime),
    String(row.shed),
    pct(row.accuracy),
  ]);
  const titles = ['flow', 'fr/s', 'exit mix (last s)', 'p50/p99 ms', 'deadline', 'on time', 'total', 'shed', 'accuracy'];
  const widths = titles.map((title, i) => Math.max(title.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (values: readonly string[]): string => values.map((value, i) => (i === 0 || i === 2 ? value.padEnd(widths[i] as number) : value.padStart(widths[i] as number))).join('  ');
  return [header, line(titles), ...cells.map(line), ...(warnings.length === 0 ? ['no warnings'] : warnings)];
}

/** Redraws `lines` over the `previous` lines a terminal shows (cursor up, clear to the end of the screen). */
export function redrawInPlace(lines: readonly string[], previous: number): string {
  return `${previous > 0 ? `\u001b[${previous}F\u001b[J` : ''}${lines.join('\n')}\n`;
}

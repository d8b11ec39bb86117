/**
 * What Grafana does to an InfluxQL query before it reaches InfluxDB, for raw queries in panels, annotations and
 * variables: template variables (`$flow`, `${flow}`, `[[flow]]`; regex-escaped inside `/.../`, multi values as
 * `(a|b)`), `$timeFilter`, `$__interval` / `$interval` (the range over max data points, rounded the way Grafana
 * rounds it, never below the datasource's min interval), `$__interval_ms`, `$__from` / `$__to`. `fill(...)` and the
 * rest pass through unchanged, as in Grafana.
 */

export interface TimeRange {
  fromMs: number;
  toMs: number;
}

export interface ExpandContext {
  range: TimeRange;
  /** Grafana uses the panel's max data points (about its width in pixels); 1000 is a wide panel. */
  maxDataPoints?: number;
  /** The datasource's `timeInterval` (min interval), e.g. `5s`. */
  minInterval?: string;
  /** Template variable values by name; an array is a multi-value selection. */
  variables?: Record<string, string | string[]>;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };

export function parseInterval(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)$/.exec(text.trim());
  const unit = match?.[2];
  if (match === null || unit === undefined) throw new Error(`not a Grafana interval: '${text}'`);
  return Number(match[1]) * (UNIT_MS[unit] ?? 0);
}

/** Grafana's rangeutil.roundInterval: snap a raw interval to a readable one. */
export function roundInterval(intervalMs: number): number {
  const steps: [number, number][] = [
    [15, 10], [35, 20], [75, 50], [150, 100], [250, 200], [350, 300], [450, 400], [750, 500], [1_500, 1_000],
    [3_500, 2_000], [7_500, 5_000], [12_500, 10_000], [17_500, 15_000], [25_000, 20_000], [45_000, 30_000],
    [90_000, 60_000], [210_000, 120_000], [450_000, 300_000], [750_000, 600_000], [1_050_000, 900_000],
    [1_500_000, 1_200_000], [2_700_000, 1_800_000], [5_400_000, 3_600_000], [9_000_000, 7_200_000],
    [16_200_000, 10_800_000], [32_400_000, 21_600_000], [86_400_000, 43_200_000], [604_800_000, 86_400_000],
    [1_814_400_000, 604_800_000], [3_628_800_000, 2_592_000_000],
  ];
  for (const [below, snapped] of steps) if (intervalMs < below) return snapped;
  return 31_536_000_000;
}

/** Grafana's kbn.secondsToHms for the rounded intervals: the largest whole unit. */
export function formatInterval(intervalMs: number): string {
  for (const unit of ['y', 'w', 'd', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit] ?? 1;
    if (intervalMs >= size && intervalMs % size === 0) return `${intervalMs / size}${unit}`;
  }
  return `${Math.round(intervalMs)}ms`;
}

/** Grafana's calculateInterval: (to − from) / max data points, rounded, at least the min interval. */
export function grafanaInterval(context: ExpandContext): { interval: string; intervalMs: number } {
  const raw = (context.range.toMs - context.range.fromMs) / (context.maxDataPoints ?? 1_000);
  let intervalMs = roundInterval(raw);
  if (context.minInterval !== undefined) intervalMs = Math.max(intervalMs, parseInterval(context.minInterval));
  return { interval: formatInterval(intervalMs), intervalMs };
}

/** @grafana/data escapeRegex: what the InfluxDB datasource applies to variable values used inside a regex. */
function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

const VARIABLE = /\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)\]\]/g;

/** Replaces template variables; inside a `/.../` regex literal the values are escaped as Grafana does. */
function interpolateVariables(query: string, variables: Record<string, string | string[]>): string {
  // Find the regex literals (after =~ or !~) so values inside them are escaped.
  const regexSpans: [number, number][] = [];
  for (const match of query.matchAll(/[=!]~\s*\/((?:\\.|[^/\\])*)\//g)) {
    const start = (match.index ?? 0) + match[0].indexOf('/');
    regexSpans.push([start, start + match[0].length]);
  }
  return query.replace(VARIABLE, (whole: string, a?: string, b?: string, c?: string, offset?: number) => {
    const name = a ?? b ?? c ?? '';
    const value = variables[name];
    if (value === undefined) return whole;
    const inRegex = regexSpans.some(([start, end]) => (offset ?? -1) > start && (offset ?? -1) < end);
    if (Array.isArray(value)) {
      const parts = inRegex ? value.map(escapeRegex) : value;
      return parts.length === 1 ? (parts[0] ?? '') : `(${parts.join('|')})`;
    }
    return inRegex ? escapeRegex(value) : value;
  });
}

export function expandInfluxQl(query: string, context: ExpandContext): string {
  const { interval, intervalMs } = grafanaInterval(context);
  const { fromMs, toMs } = context.range;
  const builtIns: Record<string, string> = {
    timeFilter: `time >= ${fromMs}ms and time <= ${toMs}ms`,
    __interval: interval,
    interval,
    __interval_ms: String(intervalMs),
    __from: String(fromMs),
    __to: String(toMs),
  };
  // Built-ins first, as the datasource does; user variables cannot shadow them.
  return interpolateVariables(interpolateVariables(query, builtIns), context.variables ?? {});
}

/** Variables left unexpanded (a typo, or a variable the dashboard does not define). Regex anchors do not count. */
export function unexpandedVariables(query: string): string[] {
  return [...query.matchAll(VARIABLE)].map((match) => match[0]);
}

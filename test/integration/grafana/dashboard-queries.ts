/**
 * Every InfluxQL query a Grafana dashboard JSON holds: panel targets (rows and nested panels included), annotation
 * queries and template-variable queries, each with where it came from, so a failing query names its panel.
 */

export type QueryKind = 'panel' | 'annotation' | 'variable';

export interface DashboardQuery {
  kind: QueryKind;
  /** e.g. `panel "Exit distribution" target B`. */
  where: string;
  query: string;
  /** `table` for table panels: rows instead of time series (still one InfluxQL series). */
  resultFormat?: string;
}

interface TargetJson {
  refId?: string;
  query?: string;
  rawQuery?: boolean;
  resultFormat?: string;
}

interface PanelJson {
  title?: string;
  type?: string;
  targets?: TargetJson[];
  panels?: PanelJson[];
}

export interface DashboardJson {
  uid?: string;
  title?: string;
  panels?: PanelJson[];
  annotations?: { list?: { name?: string; builtIn?: number; query?: string; target?: { query?: string } }[] };
  templating?: { list?: { name?: string; type?: string; query?: string | { query?: string } }[] };
}

function panelQueries(panels: PanelJson[], out: DashboardQuery[]): void {
  for (const panel of panels) {
    for (const target of panel.targets ?? []) {
      if (target.query === undefined) throw new Error(`panel "${panel.title}" target ${target.refId} has no raw query`);
      if (target.rawQuery !== true) throw new Error(`panel "${panel.title}" target ${target.refId} is not a raw InfluxQL query`);
      out.push({ kind: 'panel', where: `panel "${panel.title}" target ${target.refId}`, query: target.query, resultFormat: target.resultFormat });
    }
    panelQueries(panel.panels ?? [], out);
  }
}

export function dashboardQueries(dashboard: DashboardJson): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  panelQueries(dashboard.panels ?? [], out);
  for (const annotation of dashboard.annotations?.list ?? []) {
    if (annotation.builtIn === 1) continue;
    const query = annotation.target?.query ?? annotation.query;
    if (query === undefined) throw new Error(`annotation "${annotation.name}" has no query`);
    out.push({ kind: 'annotation', where: `annotation "${annotation.name}"`, query });
  }
  for (const variable of dashboard.templating?.list ?? []) {
    if (variable.type !== 'query') continue;
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    if (query === undefined) throw new Error(`variable "${variable.name}" has no query`);
    out.push({ kind: 'variable', where: `variable "${variable.name}"`, query });
  }
  return out;
}

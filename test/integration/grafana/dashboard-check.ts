import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { dashboardQueries, type DashboardJson, type DashboardQuery } from './dashboard-queries.ts';
import { expandInfluxQl, unexpandedVariables, type ExpandContext } from './grafana-influxql.ts';
import { influxQuery, type InfluxQlSeries } from './influx-loader.ts';

/**
 * Runs every query of the shipped dashboards against a real InfluxDB, expanded as Grafana would expand them. Used by
 * the synthetic-data test here and meant for a test that records a real pipeline run and checks the same panels.
 */

export const GRAFANA_DIR = join(import.meta.dirname, '..', '..', '..', 'grafana');
export const DASHBOARD_FILES = ['edgeke-overview.json', 'edgeke-flow.json'] as const;

export interface ProvisionedDatasource {
  uid: string;
  url: string;
  database: string;
  minInterval?: string;
}

export function provisionedDatasource(): ProvisionedDatasource {
  const file = parseYaml(readFileSync(join(GRAFANA_DIR, 'provisioning', 'datasources', 'influxdb.yaml'), 'utf8')) as {
    datasources: { uid: string; url: string; jsonData: { dbName: string; timeInterval?: string } }[];
  };
  const [datasource] = file.datasources;
  if (datasource === undefined) throw new Error('no datasource provisioned');
  return { uid: datasource.uid, url: datasource.url, database: datasource.jsonData.dbName, minInterval: datasource.jsonData.timeInterval };
}

export function loadDashboard(file: string): DashboardJson {
  return JSON.parse(readFileSync(join(GRAFANA_DIR, 'dashboards', file), 'utf8')) as DashboardJson;
}

export interface QueryRun extends DashboardQuery {
  dashboard: string;
  expanded: string;
  variables: Record<string, string>;
  series: InfluxQlSeries[];
  error?: string;
}

/** Series that carry at least one non-null value besides time. */
export function nonEmptySeries(series: InfluxQlSeries[]): InfluxQlSeries[] {
  return series.filter((one) => one.values.some((row) => row.slice(1).some((value) => value !== null)));
}

/**
 * Runs every query of `dashboard`, once per combination of its template-variable values (`variableValues`, e.g.
 * every flow). Queries that use no variable run once.
 */
export async function runDashboardQueries(options: {
  influxUrl: string;
  database: string;
  dashboard: DashboardJson;
  context: Omit<ExpandContext, 'variables'>;
  variableValues: Record<string, string[]>;
}): Promise<QueryRun[]> {
  const runs: QueryRun[] = [];
  for (const query of dashboardQueries(options.dashboard)) {
    const used = Object.keys(options.variableValues).filter((name) => new RegExp(`\\$\\{?${name}\\b|\\[\\[${name}\\]\\]`).test(query.query));
    // One variable per dashboard today (flow); a cartesian product would be needed for more.
    const [name] = used;
    const assignments = name === undefined ? [{}] : (options.variableValues[name] ?? []).map((value) => ({ [name]: value }));
    for (const variables of assignments) {
      const expanded = expandInfluxQl(query.query, { ...options.context, variables });
      const left = unexpandedVariables(expanded);
      if (left.length > 0) {
        runs.push({ ...query, dashboard: options.dashboard.uid ?? '?', expanded, variables, series: [], error: `unexpanded ${left.join(', ')}` });
        continue;
      }
      try {
        const [result] = await influxQuery(options.influxUrl, options.database, expanded);
        runs.push({ ...query, dashboard: options.dashboard.uid ?? '?', expanded, variables, series: result?.series ?? [], error: result?.error });
      } catch (error) {
        runs.push({ ...query, dashboard: options.dashboard.uid ?? '?', expanded, variables, series: [], error: (error as Error).message });
      }
    }
  }
  return runs;
}

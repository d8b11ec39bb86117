import { ConfigError } from '../errors.ts';

/** One problem in one flow file: which file, where in it (dotted path such as `source.qos`) and what was expected. */
export interface FlowIssue {
  file: string;
  /** Dotted path inside the flow, e.g. `sinks.influx.batchSize` or `source.nodeIds.0`; '' for the whole file. */
  path: string;
  /** 1-based line of the offending node when known. */
  line?: number;
  message: string;
}

export function formatFlowIssue(issue: FlowIssue): string {
  const where = issue.line === undefined ? issue.file : `${issue.file}:${issue.line}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** Flow files that cannot work. Carries every issue found (all files are checked before any is used). */
export class FlowConfigError extends ConfigError {
  constructor(readonly issues: readonly FlowIssue[]) {
    super(
      issues.length === 1
        ? `invalid flow config: ${formatFlowIssue(issues[0] as FlowIssue)}`
        : `invalid flow config (${issues.length} problems):\n${issues.map((issue) => `  ${formatFlowIssue(issue)}`).join('\n')}`,
    );
  }
}

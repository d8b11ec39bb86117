import { formatFlowIssue } from '../../flows/errors.ts';
import { checkFlows } from '../../flows/load.ts';
import { checkFlowModels } from '../../flows/model-compat.ts';
import type { FlowConfig } from '../../flows/schema.ts';
import type { Command } from '../command.ts';

/** One line per valid flow: what it listens to, what it runs and where results go. */
function describeFlow(file: string, flow: FlowConfig): string {
  const source = flow.source.kind === 'mqtt' ? `mqtt ${flow.source.topic}` : `opcua ${flow.source.nodeIds.length} node(s)`;
  const policy =
    flow.policy.mode === 'deadline'
      ? `deadline ${flow.policy.deadlineMs} ms`
      : flow.policy.mode === 'fixed'
        ? `exit ${flow.policy.exit ?? '?'}, deadline ${flow.policy.deadlineMs} ms`
        : `accuracy ${flow.policy.accuracyTarget}`;
  const sinks = [flow.sinks.influx !== undefined ? 'influx' : undefined, flow.sinks.mqttResults !== undefined ? 'mqtt' : undefined]
    .filter((sink) => sink !== undefined)
    .join('+');
  return `ok ${flow.name} (${file}): ${source} -> ${flow.decode} -> ${flow.model.path} [${flow.model.engine}, ${policy}] -> ${sinks === '' ? 'no sinks' : sinks}`;
}

export const checkCommand: Command = {
  name: 'check',
  summary: 'Validate flow files without connecting to anything',
  usage: 'edgeke check <folder-or-file>...',
  details: [
    'Reads each flow file (*.yaml, *.yml in a folder), interpolates ${VAR} and ${VAR:-default} from the environment',
    'and validates it against the flow schema (docs/flows.md), then checks each flow against its model\'s manifest when',
    'the model folder exists. Prints one line per flow and exits 0 when all are valid; otherwise prints every problem',
    '(file:line: path: what was expected) and exits 1.',
    '',
    'Example: edgeke check flows/',
  ].join('\n'),
  options: {},
  positionals: { min: 1, max: 1_000 },
  async run({ positionals, stdout, stderr }) {
    const checked = await checkFlows(positionals);
    const { flows } = checked;
    const models = checked.issues.length === 0 ? await checkFlowModels(flows) : { issues: [], notes: [] };
    const issues = [...checked.issues, ...models.issues];
    if (issues.length > 0) {
      for (const issue of issues) stderr.write(`${formatFlowIssue(issue)}\n`);
      stderr.write(`edgeke check: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n`);
      return 1;
    }
    for (const flow of flows) stdout.write(`${describeFlow(flow.file, flow.config)}\n`);
    for (const note of models.notes) stdout.write(`note: ${note}\n`);
    return 0;
  },
};

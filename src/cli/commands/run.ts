import { formatFlowIssue } from '../../flows/errors.ts';
import { checkFlows } from '../../flows/load.ts';
import { startService } from '../../pipeline/start-service.ts';
import { UsageError, type Command } from '../../core/command.ts';

export const runCommand: Command = {
  name: 'run',
  summary: 'Run the flows in a folder: devices in, multi-exit model, InfluxDB and MQTT out',
  usage: 'edgeke run <folder-or-file>... [--drain-timeout-ms N] [--no-watch]',
  details: [
    'Validates every flow file first (as `edgeke check` does) and exits 1 before connecting to anything when one is',
    'invalid. Then runs one pipeline per flow, sharing one model runtime per model, and watches the files: a changed',
    'deadline, policy, batching or limit applies from the next frame; a changed source or sink restarts just that',
    'flow; a bad edit is rejected and the flow keeps its last good config. A replaced model folder, or a flow pointed at',
    'another model, is swapped in without a restart (docs/model-swaps.md); a model that fails keeps the old one serving.',
    '--no-watch watches neither files nor model folders.',
    '',
    'SIGTERM or SIGINT: stop intake, finish frames in flight, flush the sinks, exit 0 within --drain-timeout-ms',
    '(default 10000). A second signal, or an expired deadline, exits 1; what was not stored was not acknowledged.',
    '',
    'Environment: EDGEKE_HTTP_PORT / EDGEKE_HTTP_HOST (metrics, /healthz, /readyz; default 127.0.0.1:9464),',
    'LOG_LEVEL (info), and any ${VAR} the flow files reference.',
  ].join('\n'),
  options: {
    'drain-timeout-ms': { type: 'string' },
    'no-watch': { type: 'boolean' },
  },
  positionals: { min: 1, max: 1_000 },
  async run({ values, positionals, stderr }) {
    const drainTimeoutMs = Number(values['drain-timeout-ms'] ?? 10_000);
    if (!Number.isFinite(drainTimeoutMs) || drainTimeoutMs <= 0) throw new UsageError('--drain-timeout-ms must be a positive number');
    const { flows, issues } = await checkFlows(positionals);
    if (issues.length > 0) {
      for (const issue of issues) stderr.write(`${formatFlowIssue(issue)}\n`);
      stderr.write(`edgeke run: ${issues.length} problem${issues.length === 1 ? '' : 's'} in the flow files; nothing was started\n`);
      return 1;
    }
    const running = await startService({ paths: positionals, flows, watch: values['no-watch'] !== true });
    return running.untilStopped(drainTimeoutMs);
  },
};

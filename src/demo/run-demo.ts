import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FrameResult } from '../core/frame.ts';
import { startEmbeddedBroker } from '../broker/embedded-broker.ts';
import { checkFlows } from '../flows/load.ts';
import { formatFlowIssue } from '../flows/errors.ts';
import { lineProtocolFileClient } from '../sinks/line-protocol-file.ts';
import { startService } from '../pipeline/start-service.ts';
import { ConfigError } from '../errors.ts';
import { ClassTimeline } from './class-timeline.ts';
import { DemoSummary, type FlowSummary, type LabelLookup } from './demo-summary.ts';
import { loadVibrationPlaylist, startMqttDevices, startVibrationServer } from './device-simulators.ts';

export interface DemoOptions {
  flowsDir: string;
  /** Seconds; undefined runs until SIGINT/SIGTERM. */
  durationS?: number;
  cameraRate: number;
  load: 'steady' | 'bursts';
  /** Telemetry goes here when set and reachable; otherwise to `telemetryFile`. */
  influxUrl?: string;
  telemetryFile: string;
  /** Live lines every `progressMs` (0 = none). */
  progressMs: number;
  write: (line: string) => void;
  logger: Logger;
}

const OPCUA_WINDOW_MS = (2048 / 12_000) * 1_000;

async function influxReachable(url: string): Promise<boolean> {
  try {
    const response = await fetch(new URL('/ping', url), { signal: AbortSignal.timeout(1_500) });
    return response.status === 204;
  } catch {
    return false;
  }
}

/**
 * The whole system on embedded defaults: an embedded MQTT broker (aedes), an OPC UA server playing CWRU vibration,
 * a camera replaying NEU test images (steady or in bursts), a vibration sensor publishing JSON windows, and the
 * service running the example flows against them. Returns the per-flow summary.
 */
export async function runDemo(options: DemoOptions): Promise<FlowSummary[]> {
  const { logger, write } = options;
  const broker = await startEmbeddedBroker({ port: 0, logger: logger.child({ component: 'broker' }) });
  const playlist = await loadVibrationPlaylist();
  const opcua = await startVibrationServer(playlist, { certificateStore: join('.cache', 'demo-opcua-server-pki'), logger });
  const timeline = new ClassTimeline();
  const timelineTimer = setInterval(() => timeline.note(Date.now(), opcua.currentClass().label), 10);

  const env: NodeJS.ProcessEnv = { ...process.env, MQTT_URL: broker.url, MQTT_PROTOCOL_VERSION: '4', OPCUA_ENDPOINT: opcua.endpoint };
  const useInflux = options.influxUrl !== undefined && (await influxReachable(options.influxUrl));
  if (useInflux) env.INFLUX_URL = options.influxUrl;
  const cleanup = async (): Promise<void> => {
    clearInterval(timelineTimer);
    await opcua.stop().catch(() => undefined);
    await broker.stop().catch(() => undefined);
  };
  try {
    const { flows, issues } = await checkFlows([options.flowsDir], { env });
    if (issues.length > 0) throw new ConfigError(`the demo flows are invalid:\n${issues.map(formatFlowIssue).join('\n')}`);
    write(
      useInflux
        ? `telemetry: InfluxDB at ${options.influxUrl}\n`
        : `telemetry: no InfluxDB reachable (set INFLUX_URL); writing line protocol to ${options.telemetryFile} ` +
            `(load it with: influx -import -path=${options.telemetryFile} -precision=ns)\n`,
    );

    const labelLookups = new Map<string, LabelLookup>();
    for (const flow of flows) {
      if (flow.config.source.kind === 'opcua') {
        labelLookups.set(flow.config.name, (result: FrameResult) => timeline.labelDuring(result.captureTs - 100, result.captureTs + OPCUA_WINDOW_MS + 100));
      }
    }
    const summary = new DemoSummary(labelLookups);
    const fileClient = lineProtocolFileClient(options.telemetryFile);
    const running = await startService({
      paths: [options.flowsDir],
      flows,
      watch: true,
      telemetry: { logger, http: false },
      ...(useInflux ? {} : { influxClientFactory: () => fileClient }),
      onResult: (result) => summary.record(result),
    });

    const devices = await startMqttDevices(playlist, {
      mqttUrl: broker.url,
      protocolVersion: 4,
      cameraRate: options.cameraRate,
      load: options.load,
      clientIdPrefix: 'edgeke-demo',
      logger,
    });
    write(`demo: broker ${broker.url}, OPC UA ${opcua.endpoint}, camera ${options.cameraRate} fr/s (${options.load}); Ctrl-C to stop\n`);

    const startedAt = Date.now();
    let last = startedAt;
    const progress =
      options.progressMs > 0
        ? setInterval(() => {
            const now = Date.now();
            write(`-- ${Math.round((now - startedAt) / 1000)} s --\n`);
            for (const line of summary.liveLines((now - last) / 1000)) write(`  ${line}\n`);
            last = now;
          }, options.progressMs)
        : undefined;
    if (options.durationS !== undefined) setTimeout(() => running.stop(), options.durationS * 1000).unref();
    // The simulators stop first, so the service drains and answers everything they sent.
    const exitCode = await running.untilStopped(10_000, async () => {
      clearInterval(progress);
      write('stopping: simulators stop, the service answers what they sent and flushes its sinks\n');
      await devices.stop();
    });
    if (exitCode !== 0) logger.warn('the demo service did not drain cleanly');
    return summary.summary();
  } finally {
    await cleanup();
  }
}

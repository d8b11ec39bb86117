import { join } from 'node:path';
import type { Logger } from 'pino';
import type { FrameResult } from '../core/frame.ts';
import { startEmbeddedBroker } from '../broker/embedded-broker.ts';
import { checkFlows } from '../flows/load.ts';
import { formatFlowIssue } from '../flows/errors.ts';
import { lineProtocolFileClient } from '../sinks/line-protocol-file.ts';
import { startService } from '../pipeline/start-service.ts';
import { ConfigError } from '../errors.ts';
import { calibrateCameraLoad } from './calibrate-camera-load.ts';
import { BURST_SHAPE, burstRateFloor, inBurst } from './camera-load.ts';
import { ClassTimeline } from './class-timeline.ts';
import { liveRows, redrawInPlace, tableLines, warningLines } from './live-table.ts';
import { DemoSummary, type FlowSummary, type LabelLookup } from './demo-summary.ts';
import { loadVibrationPlaylist, startMqttDevices, startVibrationServer } from './device-simulators.ts';
import { startLiveBurstTuning } from './live-burst-tuning.ts';

export interface DemoOptions {
  flowsDir: string;
  /** Seconds; undefined runs until SIGINT/SIGTERM. */
  durationS?: number;
  /** Base camera rate (fr/s); undefined: derived from the capacity the service measured at start. */
  cameraRate?: number;
  load: 'steady' | 'bursts';
  /** Telemetry goes here when set and reachable; otherwise to `telemetryFile`. */
  influxUrl?: string;
  telemetryFile: string;
  /** Every second: a table redrawn in place (terminal), a JSON line (pipe, file), or nothing (`--json`). */
  live: 'table' | 'json-lines' | 'none';
  /** The status page and /metrics: this port (0 = any free one); when taken, any free one. */
  httpPort: number;
  httpHost?: string;
  write: (line: string) => void;
  logger: Logger;
  /** The last warning the logger wrote, for the table's warning line. */
  lastLogWarning?: () => string | undefined;
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
 * service running the example flows against them. Returns the per-flow summary and the camera load it ran.
 */
/** What the demo ran and how each flow did. */
export interface DemoResult {
  /** Frames captured from the start of the load profile on. */
  flows: FlowSummary[];
  /** Frames captured before it (start-up, the camera's calibration): counted, but not in `flows`. */
  warmUp: Pick<FlowSummary, 'name' | 'frames' | 'outcomes' | 'reasons'>[];
  /** burstRate: the first burst's; burstRates: each burst's as it ran (null without live tuning). */
  camera: { baseRate: number; burstRate: number | null; burstRates: number[] | null; capacityByExit: number[] | null };
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
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
    if (options.live === 'table') write(
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
    // The summary covers the load profile (the --duration); frames captured before it started (start-up, the
    // camera's calibration, which sends frames at rates of its own) are counted apart.
    const summary = new DemoSummary(labelLookups);
    const warmUp = new DemoSummary();
    let profileStartedAt = Number.POSITIVE_INFINITY;
    const fileClient = lineProtocolFileClient(options.telemetryFile);
    const labelOf = (result: FrameResult): number | undefined => labelLookups.get(result.flow)?.(result);
    const serviceOptions = {
      paths: [options.flowsDir],
      flows,
      watch: true,
      ...(useInflux ? {} : { influxClientFactory: () => fileClient }),
      onResult: (result: FrameResult) => (result.captureTs >= profileStartedAt ? summary : warmUp).record(result),
      labelOf,
    };
    const http = { port: options.httpPort, ...(options.httpHost === undefined ? {} : { host: options.httpHost }) };
    const running = await startService({ ...serviceOptions, telemetry: { logger, http } }).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      logger.warn({ port: options.httpPort }, 'status page port taken: serving on any free port');
      return startService({ ...serviceOptions, telemetry: { logger, http: { ...http, port: 0 } } });
    });
    const statusUrl = running.telemetry.server?.url;

    const cameraFlow = flows.find((flow) => flow.config.decode === 'image');
    const latencyModel = cameraFlow === undefined ? undefined : running.service.latencyModelOf(cameraFlow.config.name);
    const load =
      options.cameraRate === undefined && cameraFlow !== undefined && latencyModel !== undefined
        ? await calibrateCameraLoad({
            mqttUrl: broker.url,
            latencyModel,
            maxBatch: cameraFlow.config.batching.maxBatch,
            modelPath: cameraFlow.config.model.path,
            cameraCounts: () => warmUp.counts(cameraFlow.config.name),
            logger,
          })
        : undefined;
    const cameraRate = options.cameraRate ?? load?.baseRate ?? 20;
    if (load !== undefined) {
      logger.info({ capacityByExit: load.capacityByExit.map(Math.round), baseRate: load.baseRate, factor: load.factor }, 'camera load derived from the measured capacity');
    }
    profileStartedAt = Date.now();
    const devices = await startMqttDevices(playlist, {
      mqttUrl: broker.url,
      protocolVersion: 4,
      cameraRate,
      load: options.load,
      bursts: BURST_SHAPE,
      clientIdPrefix: 'edgeke-demo',
      logger,
    });
    // Each burst is judged as it ends, and the next one's rate follows (live-burst-tuning.ts): only on a load sized
    // from the measured capacity; a rate the user gave (--camera-rate) is kept as given.
    const tuning =
      load !== undefined && options.load === 'bursts' && cameraFlow !== undefined && latencyModel !== undefined
        ? startLiveBurstTuning({
            burstRate: cameraRate * BURST_SHAPE.factor,
            setBurstRate: (rate) => devices.setCameraRate(rate / BURST_SHAPE.factor),
            counts: () => summary.counts(cameraFlow.config.name),
            deepestExit: latencyModel.stageCount,
            minRate: burstRateFloor(load),
            logger,
            startedAt: profileStartedAt,
          })
        : undefined;
    const currentBurstRate = (): number => tuning?.rates.at(-1) ?? cameraRate * BURST_SHAPE.factor;
    const loadText =
      `camera ${cameraRate} fr/s` +
      (options.load === 'bursts' ? `, bursts of ${BURST_SHAPE.factor}x (${cameraRate * BURST_SHAPE.factor} fr/s) for ${BURST_SHAPE.burstMs / 1000} s every ${BURST_SHAPE.everyMs / 1000} s from ${BURST_SHAPE.firstBurstAtMs / 1000} s` : ', steady') +
      (load === undefined ? '' : ` (sized from the measured capacity: ${load.capacityByExit.map((fps, i) => `exit ${i + 1} ${Math.round(fps)}`).join(', ')} fr/s per core)`);
    if (options.live === 'table') {
      write(`demo: broker ${broker.url}, OPC UA ${opcua.endpoint}; ${loadText}\n`);
      if (statusUrl !== undefined) write(`status page: ${statusUrl}/   metrics: ${statusUrl}/metrics   Ctrl-C to stop\n`);
    } else if (options.live === 'json-lines') {
      write(`${JSON.stringify({ event: 'started', broker: broker.url, opcua: opcua.endpoint, statusPage: statusUrl, cameraRate, load: options.load, capacityByExit: load?.capacityByExit })}\n`);
    }

    const startedAt = Date.now();
    let drawn = 0;
    const progress =
      options.live === 'none'
        ? undefined
        : setInterval(() => {
            const elapsedS = Math.round((Date.now() - startedAt) / 1000);
            const rows = liveRows(running.telemetry.status.snapshot(3), summary.summary());
            if (options.live === 'json-lines') {
              write(`${JSON.stringify({ event: 'second', elapsed_s: elapsedS, flows: rows })}\n`);
              return;
            }
            const burst = options.load === 'bursts' && inBurst(Date.now() - startedAt);
            const header = `-- ${elapsedS} s -- camera ${burst ? `BURST ${currentBurstRate()}` : cameraRate} fr/s`;
            const lines = tableLines(header, rows, warningLines(rows, options.lastLogWarning?.()));
            write(redrawInPlace(lines, drawn));
            drawn = lines.length;
          }, 1_000);
    if (options.durationS !== undefined) setTimeout(() => running.stop(), options.durationS * 1000).unref();
    // The simulators stop first, so the service drains and answers everything they sent.
    const exitCode = await running.untilStopped(10_000, async () => {
      clearInterval(progress);
      tuning?.stop();
      if (options.live === 'table') write('stopping: simulators stop, the service answers what they sent and flushes its sinks\n');
      await devices.stop();
    });
    if (exitCode !== 0) logger.warn('the demo service did not drain cleanly');
    return {
      flows: summary.summary(),
      camera: {
        baseRate: cameraRate,
        burstRate: options.load === 'bursts' ? cameraRate * BURST_SHAPE.factor : null,
        // The rate each burst ran at: the first as calibrated, the later ones as the bursts before them were judged.
        burstRates: tuning === undefined ? null : [...tuning.rates],
        capacityByExit: load?.capacityByExit.map((fps) => Math.round(fps)) ?? null,
      },
      warmUp: warmUp.summary().map(({ name, frames, outcomes, reasons }) => ({ name, frames, outcomes, reasons })),
    };
  } finally {
    await cleanup();
  }
}


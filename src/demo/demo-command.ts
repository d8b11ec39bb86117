import { format } from 'node:util';
import pino from 'pino';
import { createLogger, logLevelFromEnv } from '../telemetry/logger.ts';
import { telemetryHttpAddressFromEnv } from '../telemetry/http-server.ts';
import { DemoLogDestination } from './demo-log-destination.ts';
import { runDemo } from './run-demo.ts';
import { runSimulators } from './run-simulators.ts';
import { UsageError, type Command } from '../core/command.ts';

function positiveNumber(value: string | boolean | (string | boolean)[] | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (typeof value !== 'string' || !Number.isFinite(number) || number <= 0) throw new UsageError(`--${name} must be a positive number`);
  return number;
}

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Run the whole system on embedded defaults (broker, simulated devices, real data)',
  usage: 'edgeke demo [--duration S] [--json] [--camera-rate N] [--load steady|bursts] [--flows DIR] [--simulators-only]',
  details: [
    'Starts an embedded MQTT broker (aedes, MQTT 3.1.1), an OPC UA server playing CWRU bearing vibration as a live',
    '12 kHz signal, a camera replaying NEU steel-surface test images (steady or with 4x bursts), a vibration sensor',
    'publishing JSON windows, and the service with the example flows in flows/. The camera rate is sized from the',
    'capacity the service measured at start, so its bursts overload the deepest exit and the controller trades depth',
    'for time. In a terminal: one table per flow, redrawn every second (frames/s, exit mix, p50/p99 latency against',
    'the deadline, on-time share, shed count, accuracy against the true labels) with warning lines; logs go to',
    '.edgeke/demo.log. Piped: one JSON line per second, logs at warn and above on stderr. A live status page with',
    'charts is served at http://127.0.0.1:9464/ (EDGEKE_HTTP_PORT, EDGEKE_HTTP_HOST; any free port when taken).',
    '',
    'Telemetry goes to InfluxDB when INFLUX_URL answers, otherwise to .edgeke/demo-telemetry.lp (line protocol).',
    '',
    '  --duration S        stop after S seconds (default: run until Ctrl-C)',
    '  --json              print only the summary, as JSON, at the end',
    '  --camera-rate N     base camera frames per second (default: sized from the measured capacity)',
    '  --load KIND         steady or bursts (default bursts: 4x for 5 s every 10 s, from 5 s on)',
    '  --flows DIR         flow files to run (default flows/)',
    '  --simulators-only   run only the simulated devices against MQTT_URL (MQTT_USERNAME, MQTT_PASSWORD), OPC UA server on OPCUA_PORT (compose)',
  ].join('\n'),
  options: {
    duration: { type: 'string' },
    json: { type: 'boolean' },
    'camera-rate': { type: 'string' },
    load: { type: 'string' },
    flows: { type: 'string' },
    'simulators-only': { type: 'boolean' },
  },
  positionals: { min: 0, max: 0 },
  async run({ values, stdout }) {
    const load = values.load ?? 'bursts';
    if (load !== 'steady' && load !== 'bursts') throw new UsageError('--load must be steady or bursts');
    const json = values.json === true;
    const table = !json && process.stdout.isTTY === true && values['simulators-only'] !== true;
    if (values['simulators-only'] === true) {
      const cameraRate = positiveNumber(values['camera-rate'], 'camera-rate', 20);
      const logger = createLogger({ level: logLevelFromEnv(), destination: pino.destination({ dest: 2, sync: true }) });
      const username = nonEmpty(process.env.MQTT_USERNAME);
      const password = nonEmpty(process.env.MQTT_PASSWORD);
      return runSimulators({
        mqttUrl: process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883',
        opcuaPort: Number(process.env.OPCUA_PORT ?? 4840),
        cameraRate,
        load,
        logger,
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password }),
      });
    }
    const cameraRate = values['camera-rate'] === undefined ? undefined : positiveNumber(values['camera-rate'], 'camera-rate', 20);
    // stdout carries only the table, the JSON lines or the summary. In a terminal the logs, and whatever libraries
    // print on their own (node-opcua's warnings), go to a file; otherwise to stderr, the logs at warn and above.
    const logFile = table ? new DemoLogDestination(DEMO_LOG) : undefined;
    const thirdParty = (...args: unknown[]): void => {
      const text = `${format(...args)}\n`;
      if (logFile === undefined) process.stderr.write(text);
      else logFile.writeText(text);
    };
    console.log = thirdParty;
    console.info = thirdParty;
    console.warn = thirdParty;
    // Piped, warn and above unless LOG_LEVEL asks for more (the calibration's measurements are logged at info).
    const logger = createLogger({
      level: table || process.env.LOG_LEVEL !== undefined ? logLevelFromEnv() : 'warn',
      destination: logFile ?? pino.destination({ dest: 2, sync: true }),
    });
    const http = telemetryHttpAddressFromEnv();
    const summary = await runDemo({
      flowsDir: typeof values.flows === 'string' ? values.flows : 'flows',
      ...(values.duration === undefined ? {} : { durationS: positiveNumber(values.duration, 'duration', 0) }),
      ...(cameraRate === undefined ? {} : { cameraRate }),
      load,
      ...(process.env.INFLUX_URL === undefined ? {} : { influxUrl: process.env.INFLUX_URL }),
      telemetryFile: '.edgeke/demo-telemetry.lp',
      live: json ? 'none' : table ? 'table' : 'json-lines',
      httpPort: http.port,
      httpHost: http.host,
      write: (line) => {
        if (!json) stdout.write(line);
      },
      logger,
      ...(logFile === undefined ? {} : { lastLogWarning: () => logFile.lastWarning }),
    });
    logFile?.close();
    if (table) stdout.write(`logs: ${DEMO_LOG}\n`);
    if (json) {
      stdout.write(
        `${JSON.stringify({
          camera: { base_rate: summary.camera.baseRate, burst_rate: summary.camera.burstRate, burst_rates: summary.camera.burstRates, capacity_by_exit: summary.camera.capacityByExit },
          flows: summary.flows.map((flow) => ({
            name: flow.name,
            frames: flow.frames,
            outcomes: flow.outcomes,
            reasons: flow.reasons,
            attainment: flow.attainment,
            accuracy: flow.accuracy,
            exits: flow.exits,
            p50_ms: flow.p50Ms,
            p99_ms: flow.p99Ms,
            deadline_ms: flow.deadlineMs,
          })),
          warm_up: summary.warmUp,
        })}\n`,
      );
    }
    return 0;
  },
};

const DEMO_LOG = '.edgeke/demo.log';

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

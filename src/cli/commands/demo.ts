import { format } from 'node:util';
import pino from 'pino';
import { createLogger, logLevelFromEnv } from '../../telemetry/logger.ts';
import { runDemo } from '../../demo/run-demo.ts';
import { runSimulators } from '../../demo/run-simulators.ts';
import { UsageError, type Command } from '../command.ts';

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
    'publishing JSON windows, and the service with the example flows in flows/. Prints per flow every second:',
    'frames/s, exit mix, p50/p99 latency against the deadline, deadline attainment, shed count and accuracy against',
    "the simulators' true labels.",
    '',
    'Telemetry goes to InfluxDB when INFLUX_URL answers, otherwise to .edgeke/demo-telemetry.lp (line protocol).',
    '',
    '  --duration S        stop after S seconds (default: run until Ctrl-C)',
    '  --json              print the summary as JSON at the end (and no live lines)',
    '  --camera-rate N     camera frames per second (default 20)',
    '  --load KIND         steady or bursts (default bursts: 4x for 2 s every 10 s)',
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
    const cameraRate = positiveNumber(values['camera-rate'], 'camera-rate', 20);
    const json = values.json === true;
    // stdout carries only the summary: libraries that print on their own (node-opcua's warnings) go to stderr.
    if (json) console.log = (...args: unknown[]) => void process.stderr.write(`${format(...args)}\n`);
    // Logs go to stderr: stdout carries the live lines or the JSON summary.
    const logger = createLogger({ level: json ? 'warn' : logLevelFromEnv(), destination: pino.destination({ dest: 2, sync: true }) });
    if (values['simulators-only'] === true) {
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
    const summary = await runDemo({
      flowsDir: typeof values.flows === 'string' ? values.flows : 'flows',
      ...(values.duration === undefined ? {} : { durationS: positiveNumber(values.duration, 'duration', 0) }),
      cameraRate,
      load,
      ...(process.env.INFLUX_URL === undefined ? {} : { influxUrl: process.env.INFLUX_URL }),
      telemetryFile: '.edgeke/demo-telemetry.lp',
      progressMs: json ? 0 : 1_000,
      write: (line) => {
        if (!json) stdout.write(line);
      },
      logger,
    });
    if (json) {
      stdout.write(
        `${JSON.stringify({
          flows: summary.map((flow) => ({
            name: flow.name,
            frames: flow.frames,
            outcomes: flow.outcomes,
            attainment: flow.attainment,
            accuracy: flow.accuracy,
            exits: flow.exits,
            p50_ms: flow.p50Ms,
            p99_ms: flow.p99Ms,
            deadline_ms: flow.deadlineMs,
          })),
        })}\n`,
      );
    }
    return 0;
  },
};

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

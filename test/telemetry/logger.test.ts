import { describe, expect, it } from 'vitest';
import { componentLogger, createLogger, flowLogger, logLevelFromEnv, redactUrl, REDACTED } from '../../src/telemetry/logger.ts';

/** Collects every line the logger writes, as text, the way an operator's log shipper would see it. */
function collectingLogger(level: 'info' | 'debug' = 'debug') {
  const lines: string[] = [];
  const logger = createLogger({ level, destination: { write: (line: string) => void lines.push(line) } });
  return { logger, lines, text: () => lines.join('') };
}

const SECRETS = ['hunter2-mqtt', 's3cr3t-influx', 'tok-ABC123', 'Bearer eyJhbGciOi', 'opcua-pa55', 'p@ss@word', 'api-key-777', 'user-only-secret'];

describe('redactUrl', () => {
  it.each([
    ['mqtt://alice:hunter2@broker:1883', 'mqtt://broker:1883'],
    ['http://admin:s3cr3t@influxdb:8086/write?db=edgeke', 'http://influxdb:8086/write?db=edgeke'],
    ['mqtts://token@broker.example.com', 'mqtts://broker.example.com'],
    ['opc.tcp://op:p@ss@word@plc:4840/UA', 'opc.tcp://plc:4840/UA'],
    ['connect to mqtt://u:p@a:1 then http://v:q@b:2/x failed', 'connect to mqtt://a:1 then http://b:2/x failed'],
    ['mqtt://broker:1883', 'mqtt://broker:1883'],
    ['no url, just mail: alice@example.com', 'no url, just mail: alice@example.com'],
    ['http://host/path?user=a@b', 'http://host/path?user=a@b'],
  ])('%s → %s', (input, expected) => {
    expect(redactUrl(input)).toBe(expected);
  });
});

describe('logger', () => {
  it('never writes a credential, whatever shape it is logged in', () => {
    const { logger, text, lines } = collectingLogger();
    const flow = flowLogger(logger, 'camera-neu', 'source');
    const sink = componentLogger(logger, 'influx-sink');
    const withSecretBindings = logger.child({ url: 'mqtt://alice:hunter2-mqtt@broker:1883', auth: { password: 'opcua-pa55' } });

    // A whole flow config, as a careless `log.info({ config })` would write it.
    flow.info(
      {
        config: {
          source: { kind: 'mqtt', url: 'mqtt://alice:hunter2-mqtt@broker:1883', options: { password: 'hunter2-mqtt', username: 'alice' } },
          sinks: [{ kind: 'influxdb', url: 'http://admin:s3cr3t-influx@influxdb:8086', token: 'tok-ABC123' }],
          opcua: { endpoint: 'opc.tcp://op:opcua-pa55@plc:4840', security: { user: { credentials: { pass: 'opcua-pa55' } } } },
          deep: { a: { b: { c: { d: { e: { f: { apiKey: 'api-key-777' } } } } } } },
        },
      },
      'flow started',
    );
    sink.warn({ headers: { Authorization: 'Bearer eyJhbGciOi' } }, 'write failed');
    sink.info('retrying %s in %d ms', 'http://admin:s3cr3t-influx@influxdb:8086/write', 500);
    sink.info(`plain message with http://admin:s3cr3t-influx@influxdb:8086`);
    sink.info({ mqttPassword: 'hunter2-mqtt', INFLUX_TOKEN: 'tok-ABC123', clientSecret: 'tok-ABC123', list: ['mqtt://u:user-only-secret@h'] }, 'env');
    sink.info({ endpoint: new URL('mqtt://alice:hunter2-mqtt@broker:1883'), map: new Map([['password', 'opcua-pa55']]), set: new Set(['http://a:tok-ABC123@h']) }, 'objects');
    const cause = new Error('socket closed: mqtt://alice:hunter2-mqtt@broker:1883');
    flow.error(new Error('cannot connect to http://admin:s3cr3t-influx@influxdb:8086', { cause }));
    flow.error({ err: new Error('auth failed for opc.tcp://op:opcua-pa55@plc:4840') }, 'opc ua session lost');
    flow.error({ err: new Error('auth failed for opc.tcp://op:opcua-pa55@plc:4840') });
    withSecretBindings.info('bound');
    withSecretBindings.child({ nested: { secret: 'tok-ABC123' } }).info('nested binding');

    const output = text();
    expect(lines.length).toBe(11);
    for (const secret of SECRETS) expect(output).not.toContain(secret);
    // What is not secret survives, so the lines stay useful.
    expect(output).toContain('mqtt://broker:1883');
    expect(output).toContain('http://influxdb:8086');
    expect(output).toContain('"username":"alice"');
    expect(output).toContain(REDACTED);
  });

  it('tags lines with flow and component, one JSON object per line', () => {
    const { logger, lines } = collectingLogger();
    flowLogger(logger, 'bearing-cwru', 'pipeline').info({ frames: 3 }, 'batch done');
    componentLogger(logger, 'telemetry-http').info('listening');
    const [first, second] = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(first).toMatchObject({ name: 'edgeke', flow: 'bearing-cwru', component: 'pipeline', frames: 3, msg: 'batch done', level: 30 });
    expect(second).toMatchObject({ component: 'telemetry-http', msg: 'listening' });
    expect(second).not.toHaveProperty('flow');

    componentLogger(flowLogger(logger, 'bearing-cwru'), 'decoder').child({ batch: 7 }).info('nested');
    expect(JSON.parse(lines[2] ?? '{}')).toMatchObject({ flow: 'bearing-cwru', component: 'decoder', batch: 7 });
  });

  it('keeps the error type and stack, cleaned', () => {
    const { logger, lines } = collectingLogger();
    logger.error({ err: new TypeError('bad http://a:b-secret@h') }, 'failed');
    const line = JSON.parse(lines[0] ?? '{}') as { err: { type: string; message: string; stack: string } };
    expect(line.err.type).toBe('TypeError');
    expect(line.err.message).toBe('bad http://h');
    expect(line.err.stack).not.toContain('b-secret');
  });

  it('reads LOG_LEVEL, falling back to info', () => {
    expect(logLevelFromEnv({ LOG_LEVEL: 'DEBUG' })).toBe('debug');
    expect(logLevelFromEnv({ LOG_LEVEL: 'loud' })).toBe('info');
    expect(logLevelFromEnv({})).toBe('info');
  });
});

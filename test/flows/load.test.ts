import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FlowConfigError, type FlowIssue } from '../../src/flows/errors.ts';
import { checkFlows, loadFlows, parseFlowText } from '../../src/flows/load.ts';
import { mqttClientId } from '../../src/flows/schema.ts';

const MINIMAL_MQTT = `
name: line1
source:
  kind: mqtt
  url: mqtt://127.0.0.1:1883
  topic: plant/line1/camera
decode: image
model:
  path: models/neu-surface
`;

function issuesOf(text: string, env: Record<string, string> = {}): FlowIssue[] {
  return parseFlowText(text, 'flow.yaml', env).issues;
}

function onlyIssue(text: string, env: Record<string, string> = {}): FlowIssue {
  const issues = issuesOf(text, env);
  expect(issues).toHaveLength(1);
  return issues[0] as FlowIssue;
}

describe('parsing one flow file', () => {
  it('applies the documented defaults', () => {
    const { flow, issues } = parseFlowText(MINIMAL_MQTT, 'flow.yaml', {});
    expect(issues).toEqual([]);
    const config = flow!.config;
    expect(config.source).toMatchObject({ kind: 'mqtt', qos: 1, cleanSession: false, protocolVersion: 5, keepaliveSeconds: 30 });
    expect(config.policy).toEqual({ mode: 'deadline', deadlineMs: 100, accuracyTarget: 0.95, confidenceStop: 'none', confidenceStopWhen: 'busy', vote: false, latePolicy: 'shed', riskQuantile: 0.95, cpuWeight: 1 });
    expect(config.batching).toEqual({ maxBatch: 4, maxWaitMs: 5 });
    expect(config.limits).toEqual({ maxPayloadBytes: 4 * 1024 * 1024, queueCapacity: 64, maxInFlight: 256 });
    expect(config.model).toEqual({ path: 'models/neu-surface', engine: 'onnx', threads: 1 });
    expect(mqttClientId(config as { name: string; source: { clientId?: string } })).toBe('edgeke-line1');
  });

  it('names the path and what was expected', () => {
    const issue = onlyIssue(MINIMAL_MQTT.replace('topic: plant/line1/camera', 'topic: plant/line1/camera\n  qos: 2'));
    expect(issue).toMatchObject({ file: 'flow.yaml', path: 'source.qos', line: 7 });
    expect(issue.message).toMatch(/expected one of 0\|1/);
  });

  it('rejects unknown keys, naming them', () => {
    const issue = onlyIssue(MINIMAL_MQTT + 'limits:\n  maxPayloadByte: 10\n');
    expect(issue).toMatchObject({ path: 'limits', message: "unknown field 'maxPayloadByte'" });
  });

  it('reports a missing required field', () => {
    expect(onlyIssue(MINIMAL_MQTT.replace('decode: image\n', ''))).toMatchObject({ path: 'decode', message: expect.stringMatching(/^required/) });
  });

  it('reports an unknown source kind', () => {
    expect(onlyIssue(MINIMAL_MQTT.replace('kind: mqtt', 'kind: amqp'))).toMatchObject({ path: 'source.kind', message: expect.stringContaining("'mqtt' | 'opcua'") });
  });

  it('validates topic filters and node ids', () => {
    expect(onlyIssue(MINIMAL_MQTT.replace('plant/line1/camera', 'plant/#/camera'))).toMatchObject({ path: 'source.topic' });
    const opcua = `
name: bearing
source:
  kind: opcua
  endpoint: opc.tcp://127.0.0.1:4840
  nodeIds: [ "ns=1;s=Ok", "ns=1;q=Bad" ]
decode: opcua-samples
model: { path: models/cwru-bearing }
`;
    expect(onlyIssue(opcua)).toMatchObject({ path: 'source.nodeIds.1', line: 6 });
    expect(issuesOf(opcua.replace(', "ns=1;q=Bad"', ''))).toEqual([]);
  });

  it('checks that source and decoder fit together', () => {
    expect(onlyIssue(MINIMAL_MQTT.replace('decode: image', 'decode: opcua-samples'))).toMatchObject({ path: 'decode' });
  });

  it.each([
    { policy: '{ mode: fixed, exit: 2 }', issue: undefined },
    { policy: '{ mode: fixed }', issue: { path: 'policy.exit', message: expect.stringContaining('required with mode fixed') } },
    { policy: '{ mode: fixed, exit: 0 }', issue: { path: 'policy.exit', message: expect.stringContaining('>0') } },
    { policy: '{ mode: deadline, exit: 2 }', issue: { path: 'policy.exit', message: expect.stringContaining('only with mode fixed') } },
  ])('policy $policy: the pinned exit is required in fixed mode, and only there', ({ policy, issue }) => {
    const issues = issuesOf(`${MINIMAL_MQTT}policy: ${policy}\n`);
    if (issue === undefined) expect(issues).toEqual([]);
    else expect(issues).toMatchObject([issue]);
  });

  it('accepts confidenceStop written as a YAML number', () => {
    const { flow } = parseFlowText(MINIMAL_MQTT + 'policy:\n  confidenceStop: 0.90\n', 'flow.yaml', {});
    expect(flow!.config.policy.confidenceStop).toBe('0.90');
  });

  it('interpolates ${VAR}, coercing unquoted whole references like the YAML they stand for', () => {
    const text = MINIMAL_MQTT.replace('mqtt://127.0.0.1:1883', '${MQTT_URL:-mqtt://127.0.0.1:1883}') + 'limits:\n  queueCapacity: ${QUEUE}\n';
    const { flow, issues } = parseFlowText(text, 'flow.yaml', { MQTT_URL: 'mqtts://broker:8883', QUEUE: '128' });
    expect(issues).toEqual([]);
    expect(flow!.config.source).toMatchObject({ url: 'mqtts://broker:8883' });
    expect(flow!.config.limits.queueCapacity).toBe(128);
  });

  it('names a missing variable with file, path and line', () => {
    const issue = onlyIssue(MINIMAL_MQTT.replace('mqtt://127.0.0.1:1883', '${BROKER_URL}'));
    expect(issue).toMatchObject({ file: 'flow.yaml', path: 'source.url', line: 5 });
    expect(issue.message).toContain('BROKER_URL');
  });

  it('leaves out a field whose whole value resolves to empty', () => {
    const { flow, issues } = parseFlowText(MINIMAL_MQTT + '  password: ${MQTT_PASSWORD:-}\n'.replace(/^/, ''), 'flow.yaml', {});
    // (appended under `model`, so it is an unknown key there unless omitted)
    expect(issues).toEqual([]);
    expect(flow!.config.model).not.toHaveProperty('password');
  });

  it('requires secrets to come from the environment and never echoes them', () => {
    const literal = MINIMAL_MQTT.replace('topic: plant/line1/camera', 'topic: plant/line1/camera\n  password: hunter2secret');
    const issue = onlyIssue(literal);
    expect(issue).toMatchObject({ path: 'source.password' });
    expect(issue.message).not.toContain('hunter2secret');

    const fromEnv = MINIMAL_MQTT.replace('topic: plant/line1/camera', 'topic: plant/line1/camera\n  password: ${MQTT_PASSWORD}');
    expect(issuesOf(fromEnv, { MQTT_PASSWORD: 's3cr3t-value' })).toEqual([]);
    // A wrong type around a secret: the message names the path, not the value.
    const badQos = fromEnv.replace('decode: image', 'decode: image\nextra: ${MQTT_PASSWORD}');
    const issues = issuesOf(badQos, { MQTT_PASSWORD: 's3cr3t-value' });
    expect(issues.length).toBeGreaterThan(0);
    for (const found of issues) expect(JSON.stringify(found)).not.toContain('s3cr3t-value');
  });

  it('never echoes a secret from a URL', () => {
    const text = MINIMAL_MQTT.replace('mqtt://127.0.0.1:1883', '${MQTT_URL}');
    const issues = issuesOf(text, { MQTT_URL: 'ftp://user:pa55word@host' });
    expect(issues).toHaveLength(1);
    expect(JSON.stringify(issues)).not.toContain('pa55word');
  });

  it('does not let an env value inject YAML', () => {
    const text = MINIMAL_MQTT.replace('plant/line1/camera', '${TOPIC}');
    const { flow } = parseFlowText(text, 'flow.yaml', { TOPIC: 'a\nqos: 0' });
    expect(flow!.config.source).toMatchObject({ topic: 'a\nqos: 0', qos: 1 });
  });

  it('reports YAML syntax errors with a line and no source text', () => {
    const issue = issuesOf('name: a\nsource: [unclosed\npassword: hunter2secret\n')[0]!;
    expect(issue.line).toBeTypeOf('number');
    expect(issue.message).toMatch(/^YAML syntax error/);
    expect(issue.message).not.toContain('hunter2');
    expect(onlyIssue('name: a\nname: b\n').message).toContain('duplicate key');
  });

  it('refuses YAML alias bombs and self-referencing aliases instead of expanding them', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 8; level += 1) levels.push(`${String.fromCharCode(97 + level)}: &${String.fromCharCode(97 + level)} [${new Array(10).fill(`*${String.fromCharCode(96 + level)}`).join(', ')}]`);
    expect(onlyIssue(levels.join('\n')).message).toMatch(/too many values/);
    expect(issuesOf('name: &n [*n]\n').length).toBeGreaterThan(0);
  });

  it('wants exactly one flow per file', () => {
    expect(onlyIssue('').message).toMatch(/empty/);
    expect(onlyIssue(`${MINIMAL_MQTT}\n---\n${MINIMAL_MQTT}`).message).toMatch(/one flow per file/);
  });
});

describe('loading folders of flows', () => {
  function folder(files: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-flows-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  }

  it('loads every *.yaml and *.yml in name order and ignores other files', async () => {
    const dir = folder({ 'b.yml': MINIMAL_MQTT.replace('line1', 'b'), 'a.yaml': MINIMAL_MQTT.replace('line1', 'a'), 'notes.txt': 'x' });
    const flows = await loadFlows([dir], { env: {} });
    expect(flows.map((flow) => flow.config.name)).toEqual(['a', 'b']);
    expect(flows[0]!.configHash).toMatch(/^[0-9a-f]{16}$/);
  });

  it('checks every file before returning anything, and rejects duplicate names', async () => {
    const dir = folder({ 'a.yaml': MINIMAL_MQTT, 'b.yaml': MINIMAL_MQTT, 'c.yaml': MINIMAL_MQTT.replace('line1', 'c').replace('qos', 'x') + 'bogus: 1\n' });
    const { flows, issues } = await checkFlows([dir], { env: {} });
    expect(flows).toEqual([]);
    expect(issues.map((issue) => [issue.file.split('/').pop(), issue.path])).toEqual([
      ['c.yaml', ''],
      ['b.yaml', 'name'],
    ]);
    await expect(loadFlows([dir], { env: {} })).rejects.toBeInstanceOf(FlowConfigError);
    const error = (await loadFlows([dir], { env: {} }).catch((caught: unknown) => caught)) as FlowConfigError;
    expect(error).toMatchObject({ code: 'EDGEKE_CONFIG', retryable: false });
    expect(error.message).toContain('b.yaml:2: name: duplicate flow name');
  });

  it('reports missing paths and empty folders', async () => {
    const { issues } = await checkFlows(['/no/such/flows', folder({})], { env: {} });
    expect(issues.map((issue) => issue.message)).toEqual(['no such file or folder', 'folder holds no flow files (*.yaml, *.yml)']);
  });

  it('validates the shipped example flows', async () => {
    const flows = await loadFlows(['flows'], { env: {} });
    expect(flows.map((flow) => flow.config.name).sort()).toEqual(['cwru-mqtt-json', 'cwru-opcua', 'neu-camera']);
    const neu = flows.find((flow) => flow.config.name === 'neu-camera')!.config;
    expect(neu.source).toMatchObject({ url: 'mqtt://127.0.0.1:1883' });
    expect(neu.source).not.toHaveProperty('password');
    const withEnv = await loadFlows(['flows'], { env: { MQTT_URL: 'mqtt://127.0.0.1:41883', INFLUX_URL: 'http://127.0.0.1:48086' } });
    expect(withEnv.find((flow) => flow.config.name === 'cwru-opcua')!.config.sinks.influx?.url).toBe('http://127.0.0.1:48086');
  });
});

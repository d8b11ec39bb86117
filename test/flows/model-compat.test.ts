import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseFlowText, type LoadedFlow } from '../../src/flows/load.ts';
import { checkFlowModels } from '../../src/flows/model-compat.ts';

// The tiny fixture models (committed with the model runtime): a 256-sample signal model and a 16x16 image model,
// both with vote weights and thresholds calibrated for 0.90 only.
function flow(name: string, body: string): LoadedFlow {
  const result = parseFlowText(`name: ${name}\n${body}`, `${name}.yaml`, {});
  expect(result.issues).toEqual([]);
  return result.flow!;
}

const OPCUA = (samples: number, model: string, policy = '') =>
  `source:\n  kind: opcua\n  endpoint: opc.tcp://h:4840\n  nodeIds: ["ns=1;s=A"]\n  window: { by: count, samples: ${samples} }\ndecode: opcua-samples\nmodel: { path: ${model} }\n${policy}`;
const MQTT = (decode: string, model: string, policy = '') => `source:\n  kind: mqtt\n  url: mqtt://h\n  topic: a/b\ndecode: ${decode}\nmodel: { path: ${model} }\n${policy}`;

describe('flows against their model manifests', () => {
  it('accepts flows that fit their models', async () => {
    const report = await checkFlowModels([
      flow('signal', OPCUA(256, 'test/fixtures/tiny-model/signal', 'policy: { vote: true, confidenceStop: "0.90" }')),
      flow('image', MQTT('image', 'test/fixtures/tiny-model/image')),
    ]);
    expect(report).toEqual({ issues: [], notes: [] });
  });

  it('names each mismatch with the flow path and what the model expects', async () => {
    const report = await checkFlowModels([
      flow('window', OPCUA(2048, 'test/fixtures/tiny-model/signal', 'policy: { confidenceStop: "0.95" }')),
      flow('decoder', MQTT('json-values', 'test/fixtures/tiny-model/image')),
    ]);
    expect(report.issues.map((issue) => [issue.file, issue.path])).toEqual([
      ['window.yaml', 'source.window.samples'],
      ['decoder.yaml', 'decode'],
    ]);
    expect(report.issues[0]?.message).toContain('expected 256');
    expect(report.notes).toEqual(['window: policy.confidenceStop: model tiny-signal has no exit calibrated for 0.95, so frames never stop early']);
  });

  it('checks a pinned exit against the exits the model has', async () => {
    const report = await checkFlowModels([
      flow('last', OPCUA(256, 'test/fixtures/tiny-model/signal', 'policy: { mode: fixed, exit: 3 }')),
      flow('beyond', OPCUA(256, 'test/fixtures/tiny-model/signal', 'policy: { mode: fixed, exit: 4 }')),
    ]);
    expect(report.issues).toEqual([{ file: 'beyond.yaml', path: 'policy.exit', message: 'model tiny-signal has 3 exits: expected 1..3' }]);
  });

  it('notes a model folder that is not there yet, and reports a broken manifest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-model-'));
    writeFileSync(join(dir, 'manifest.json'), '{"format": "something else"}');
    const report = await checkFlowModels([flow('missing', MQTT('image', 'models/not-trained-yet')), flow('broken', MQTT('image', dir))], '/');
    expect(report.notes).toEqual(['missing: model folder models/not-trained-yet not found; model checks skipped']);
    expect(report.issues).toMatchObject([{ file: 'broken.yaml', path: 'model.path' }]);
  });
});

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/edgeke.ts';
import { captureIo } from '../helpers/capture-io.ts';

async function runCheck(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { io, out, err } = captureIo();
  const code = await main(['check', ...args], io);
  return { code, out: out(), err: err() };
}

describe('edgeke check', () => {
  it('prints one line per valid flow and exits 0 (the shipped examples)', async () => {
    const { code, out, err } = await runCheck(['flows/']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out.split('\n').filter((line) => line.startsWith('ok '))).toHaveLength(3);
    expect(out).toContain('ok neu-camera (flows/neu-camera.yaml): mqtt plant/line1/+/camera -> image -> models/neu-surface');
  });

  it('checks flows against their model manifests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-check-'));
    writeFileSync(join(dir, 'wrong.yaml'), 'name: wrong\nsource: { kind: mqtt, url: "mqtt://h", topic: a }\ndecode: image\nmodel: { path: test/fixtures/tiny-model/signal }\n');
    const { code, err } = await runCheck([dir]);
    expect(code).toBe(1);
    expect(err).toContain("wrong.yaml: decode: model tiny-signal takes signal input");
  });

  it('prints every problem and exits 1', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-check-'));
    writeFileSync(join(dir, 'bad.yaml'), 'name: bad\nsource:\n  kind: mqtt\n  url: mqtt://h\n  topic: a/#/b\n  qos: 2\ndecode: image\nmodel: { path: m }\n');
    const { code, out, err } = await runCheck([join(dir, 'bad.yaml'), 'flows/neu-camera.yaml']);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toContain('bad.yaml:5: source.topic:');
    expect(err).toContain('bad.yaml:6: source.qos:');
    expect(err).toContain('edgeke check: 2 problems');
  });

  it('wants at least one path', async () => {
    expect((await runCheck([])).code).toBe(2);
  });
});

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DemoLogDestination } from '../../src/demo/demo-log-destination.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('DemoLogDestination', () => {
  it('keeps every line in the file and shows the latest warning for 10 s', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgeke-demo-log-'));
    dirs.push(dir);
    let now = 0;
    const log = new DemoLogDestination(join(dir, 'sub', 'demo.log'), () => now);
    log.write(`${JSON.stringify({ level: 30, msg: 'flow started', flow: 'cam' })}\n`);
    expect(log.lastWarning).toBeUndefined();
    log.write(`${JSON.stringify({ level: 40, msg: 'sink slow', flow: 'cam' })}\n`);
    log.writeText('[NODE-OPCUA-W27] node version\n');
    now = 10_000;
    expect(log.lastWarning).toBe('cam: sink slow');
    now = 10_001;
    expect(log.lastWarning).toBeUndefined();
    log.close();
    log.write('after close\n');
    expect(readFileSync(join(dir, 'sub', 'demo.log'), 'utf8').split('\n').filter(Boolean)).toHaveLength(3);
  });
});

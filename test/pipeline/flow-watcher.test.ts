import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { FlowIssue } from '../../src/flows/errors.ts';
import { loadFlows, type LoadedFlow } from '../../src/flows/load.ts';
import { FlowWatcher } from '../../src/pipeline/flow-watcher.ts';
import { waitFor } from '../helpers/wait-for.ts';

// Per-file reload against the real file system: one broken flow file blocks only itself, every other file's edits
// apply, and the rejection is logged each time the broken file changes.

function flowYaml(name: string, deadlineMs: number | string, topic = `t/${name}`): string {
  return `name: ${name}
source: { kind: mqtt, url: "mqtt://127.0.0.1:1883", topic: ${topic} }
decode: json-values
model: { path: models/cwru-bearing }
policy: { deadlineMs: ${deadlineMs} }
`;
}

/** Editors replace files on save: write aside, then rename over. */
function save(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

interface Harness {
  dir: string;
  applied: LoadedFlow[][];
  rejected: FlowIssue[][];
  logs: { msg: string; file?: string }[];
  watcher: FlowWatcher;
  /** Saves, then waits for the reload it triggers. */
  edit: (name: string, text: string | undefined) => Promise<void>;
  deadlines: () => Record<string, number>;
}

const harnesses: Harness[] = [];
afterEach(() => {
  for (const harness of harnesses.splice(0)) {
    harness.watcher.close();
    rmSync(harness.dir, { recursive: true, force: true });
  }
});

async function start(files: Record<string, string>): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'edgeke-watch-'));
  for (const [name, text] of Object.entries(files)) save(join(dir, name), text);
  const logs: { msg: string; file?: string }[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(JSON.parse(line) as { msg: string; file?: string });
        callback();
      },
    }),
  );
  const applied: LoadedFlow[][] = [];
  const rejected: FlowIssue[][] = [];
  const watcher = new FlowWatcher({
    paths: [dir],
    running: await loadFlows([dir]),
    logger,
    debounceMs: 30,
    onFlows: async (flows) => {
      applied.push(flows);
    },
    onRejected: (issues) => rejected.push([...issues]),
  });
  await watcher.start();
  const harness: Harness = {
    dir,
    applied,
    rejected,
    logs,
    watcher,
    edit: async (name, text) => {
      const before = applied.length + rejected.length;
      if (text === undefined) rmSync(join(dir, name));
      else save(join(dir, name), text);
      await waitFor(`the reload after saving ${name}`, () => applied.length + rejected.length > before, 10_000, 10);
      // Let a second watch event of the same save settle too.
      await new Promise((resolve) => setTimeout(resolve, 150));
      await watcher.settled();
    },
    deadlines: () => Object.fromEntries((applied.at(-1) ?? []).map((flow) => [flow.config.name, flow.config.policy.deadlineMs])),
  };
  harnesses.push(harness);
  return harness;
}

describe('FlowWatcher: per-file reload', () => {
  it('applies the edits of every other file while one file is broken, and keeps the broken one at its last good config', async () => {
    const h = await start({ 'a.yaml': flowYaml('a', 100), 'b.yaml': flowYaml('b', 200) });
    await h.edit('a.yaml', flowYaml('a', '"soon"'));
    expect(h.rejected.at(-1)?.map((issue) => [issue.file, issue.path])).toEqual([[join(h.dir, 'a.yaml'), 'policy.deadlineMs']]);
    expect(h.deadlines()).toEqual({ a: 100, b: 200 });
    // Reported for /readyz (a notice: it does not block readiness) while it stays broken.
    const aRejected = [{ name: `file:${join(h.dir, 'a.yaml')}`, detail: expect.stringContaining('policy.deadlineMs') }];
    expect(h.watcher.rejections()).toEqual(aRejected);

    await h.edit('b.yaml', flowYaml('b', 250));
    expect(h.deadlines()).toEqual({ a: 100, b: 250 });
    expect(h.watcher.rejections()).toEqual(aRejected);
    await h.edit('c.yaml', flowYaml('c', 300));
    expect(h.deadlines()).toEqual({ a: 100, b: 250, c: 300 });
    await h.edit('c.yaml', undefined);
    expect(h.deadlines()).toEqual({ a: 100, b: 250 });

    // Fixed: it applies, and the other flows are untouched.
    await h.edit('a.yaml', flowYaml('a', 120));
    expect(h.deadlines()).toEqual({ a: 120, b: 250 });
    expect(h.watcher.rejections()).toEqual([]);
  });

  it('logs the rejection each time the broken file changes, not again while it sits unchanged', async () => {
    const h = await start({ 'a.yaml': flowYaml('a', 100), 'b.yaml': flowYaml('b', 200) });
    const rejections = (): string[] => h.logs.filter((line) => line.msg.startsWith('flow file rejected')).map((line) => line.file ?? '');
    await h.edit('a.yaml', flowYaml('a', '"soon"'));
    await h.edit('b.yaml', flowYaml('b', 210));
    await h.edit('b.yaml', flowYaml('b', 220));
    expect(rejections()).toEqual([join(h.dir, 'a.yaml')]);
    await h.edit('a.yaml', flowYaml('a', '"later"'));
    await h.edit('a.yaml', 'name: a\nsource: [');
    expect(rejections()).toEqual([join(h.dir, 'a.yaml'), join(h.dir, 'a.yaml'), join(h.dir, 'a.yaml')]);
    expect(h.rejected).toHaveLength(3);
    expect(h.deadlines()).toEqual({ a: 100, b: 220 });
    // Fixed, then broken again with the first broken text: that is a change, so it is logged again.
    await h.edit('a.yaml', flowYaml('a', 100));
    await h.edit('a.yaml', flowYaml('a', '"soon"'));
    expect(rejections()).toHaveLength(4);
  });

  it('starts no flow for a new file that is broken, and starts it once fixed', async () => {
    const h = await start({ 'a.yaml': flowYaml('a', 100) });
    await h.edit('new.yaml', flowYaml('new', -1));
    expect(h.deadlines()).toEqual({ a: 100 });
    expect(h.logs.some((line) => line.msg === 'flow file rejected; it starts no flow until it is fixed')).toBe(true);
    await h.edit('new.yaml', flowYaml('new', 40));
    expect(h.deadlines()).toEqual({ a: 100, new: 40 });
  });

  it('rejects a file that takes the name of a running flow; the running flow keeps it', async () => {
    const h = await start({ 'a.yaml': flowYaml('a', 100), 'b.yaml': flowYaml('b', 200) });
    // 0.yaml sorts before a.yaml: the running file keeps the name all the same.
    await h.edit('0.yaml', flowYaml('a', 1));
    expect(h.rejected.at(-1)?.[0]).toMatchObject({ file: join(h.dir, '0.yaml'), path: 'name' });
    expect(h.deadlines()).toEqual({ a: 100, b: 200 });
    await h.edit('a.yaml', flowYaml('a', 110));
    expect(h.deadlines()).toEqual({ a: 110, b: 200 });
    // b renames itself to a running name: rejected, b keeps running as it was.
    await h.edit('b.yaml', flowYaml('a', 5));
    expect(h.deadlines()).toEqual({ a: 110, b: 200 });
  });
});

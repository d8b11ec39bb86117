import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pino from 'pino';
import { afterAll, describe, expect, inject, it } from 'vitest';
import type { FrameResult } from '../../../src/core/frame.ts';
import type { FlowIssue } from '../../../src/flows/errors.ts';
import { loadFlows } from '../../../src/flows/load.ts';
import { FlowWatcher } from '../../../src/pipeline/flow-watcher.ts';
import { EdgekeService } from '../../../src/pipeline/service.ts';
import { StatusBoard } from '../../../src/telemetry/status-board.ts';
import { waitFor } from '../../helpers/wait-for.ts';

// Live tuning: edits to flow files apply without restarting the service, bad edits are rejected and the flow keeps
// its last good config (a broken file blocks only itself), new files start flows and deleted files stop them.

const logger = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'edgeke-hot-reload-'));
const profileCacheDir = join(dir, 'profiles');

function flowYaml(name: string, topic: string, deadlineMs: number | string): string {
  return `
name: ${name}
source: { kind: mqtt, url: "${inject('mosquittoUrl')}", topic: "${topic}", qos: 1, clientId: reload-${name} }
decode: json-values
model: { path: test/fixtures/tiny-model/signal }
policy: { mode: deadline, deadlineMs: ${deadlineMs}, latePolicy: answer-late }
batching: { maxBatch: 4, maxWaitMs: 1 }
`;
}

/** Editors replace files on save: write aside, then rename over. */
function save(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

describe('hot reload of flow files', () => {
  const results: FrameResult[] = [];
  let service: EdgekeService | undefined;
  let watcher: FlowWatcher | undefined;

  afterAll(async () => {
    watcher?.close();
    await service?.stop(5_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies deadlines live, rejects bad edits, starts and stops flows with their files', async () => {
    const flowsDir = join(dir, 'flows');
    mkdirSync(flowsDir);
    const lineFile = join(flowsDir, 'line.yaml');
    save(lineFile, flowYaml('line', 'reload/line', 5000));
    const initial = await loadFlows([flowsDir]);
    // Wired as startService wires the status page: results in, removed flows out.
    const status = new StatusBoard();
    const removed: string[] = [];
    service = await EdgekeService.start(initial, {
      logger,
      profileCacheDir,
      profileRepeats: 3,
      onResult: (r) => {
        results.push(r);
        status.record(r);
      },
      onFlowRemoved: (name) => {
        removed.push(name);
        status.removeFlow(name);
      },
    });
    const rejected: FlowIssue[][] = [];
    const applied: number[] = [];
    watcher = new FlowWatcher({
      paths: [flowsDir],
      running: initial,
      logger,
      debounceMs: 100,
      onFlows: async (flows) => {
        await service?.apply(flows);
        applied.push(flows.length);
      },
      onRejected: (issues) => rejected.push([...issues]),
    });
    await watcher.start();

    const publisher = await mqtt.connectAsync(inject('mosquittoUrl'), { protocolVersion: 5, clientId: 'reload-publisher' });
    let seq = 0;
    const send = async (topic: string): Promise<string> => {
      const id = `r${++seq}`;
      await publisher.publishAsync(topic, JSON.stringify({ id, ts: Date.now(), values: Array.from({ length: 256 }, (_, i) => Math.sin(i / 5 + seq)) }), { qos: 1 });
      return id;
    };
    const resultOf = (id: string): FrameResult | undefined => results.find((r) => r.id === id);

    try {
      const first = await send('reload/line');
      await waitFor("the first frame's result", () => resultOf(first) !== undefined, 15_000);
      expect(resultOf(first)).toMatchObject({ deadlineMs: 5000, configVersion: 1 });

      // A new deadline: same flow, version 2, from the next frame.
      save(lineFile, flowYaml('line', 'reload/line', 2500));
      await waitFor('the new deadline applied', () => applied.length === 1, 15_000);
      expect(service.flow('line')?.version).toBe(2);
      const second = await send('reload/line');
      await waitFor("the second frame's result", () => resultOf(second) !== undefined, 15_000);
      expect(resultOf(second)).toMatchObject({ deadlineMs: 2500, configVersion: 2 });

      // A bad edit: rejected with the file and path named; the flow keeps its last good config and keeps answering.
      save(lineFile, flowYaml('line', 'reload/line', '"soon"'));
      await waitFor('the bad edit rejected', () => rejected.length === 1, 15_000);
      expect(rejected[0]?.[0]).toMatchObject({ file: lineFile, path: 'policy.deadlineMs' });
      const third = await send('reload/line');
      await waitFor("the third frame's result", () => resultOf(third) !== undefined, 15_000);
      expect(resultOf(third)).toMatchObject({ deadlineMs: 2500, configVersion: 2 });

      // While line.yaml is still broken, another file's edits apply: a new flow starts, then takes a new deadline.
      const secondFile = join(flowsDir, 'second.yaml');
      save(secondFile, flowYaml('second', 'reload/second', 4000));
      await waitFor('the added flow started', () => service?.flowNames.includes('second') === true, 15_000);
      const fourth = await send('reload/second');
      await waitFor("the added flow's result", () => resultOf(fourth) !== undefined, 15_000);
      expect(resultOf(fourth)).toMatchObject({ flow: 'second', deadlineMs: 4000, configVersion: 1 });
      save(secondFile, flowYaml('second', 'reload/second', 3000));
      await waitFor("the second flow's new deadline", () => service?.flow('second')?.version === 2, 15_000);
      const secondAgain = await send('reload/second');
      await waitFor("the second flow's next result", () => resultOf(secondAgain) !== undefined, 15_000);
      expect(resultOf(secondAgain)).toMatchObject({ flow: 'second', deadlineMs: 3000, configVersion: 2 });
      expect(rejected).toHaveLength(1);
      expect(service.flow('line')).toMatchObject({ version: 2, config: { policy: { deadlineMs: 2500 } } });

      // Broken differently: logged again. Then fixed: both run.
      save(lineFile, flowYaml('line', 'reload/line', -5));
      await waitFor('the second bad edit rejected', () => rejected.length === 2, 15_000);
      save(lineFile, flowYaml('line', 'reload/line', 2000));
      await waitFor('the fixed file applied', () => service?.flow('line')?.version === 3, 15_000);
      const lineAgain = await send('reload/line');
      await waitFor("the fixed flow's result", () => resultOf(lineAgain) !== undefined, 15_000);
      expect(resultOf(lineAgain)).toMatchObject({ deadlineMs: 2000, configVersion: 3 });

      // A valid edit whose model cannot load: the flow goes back to its running config, and the change saved with it
      // to another file still applies.
      save(lineFile, flowYaml('line', 'reload/line', 2000).replace('test/fixtures/tiny-model/signal', 'test/fixtures/no-such-model'));
      save(secondFile, flowYaml('second', 'reload/second', 3500));
      await waitFor("the second flow's deadline next to the unloadable edit", () => service?.flow('second')?.version === 3, 15_000);
      expect(service.flowNames.sort()).toEqual(['line', 'second']);
      const lineKept = await send('reload/line');
      await waitFor("the flow's result after its unloadable edit", () => resultOf(lineKept) !== undefined, 15_000);
      expect(resultOf(lineKept)).toMatchObject({ deadlineMs: 2000, configVersion: 3 });
      save(lineFile, flowYaml('line', 'reload/line', 2000));

      // Delete it: drained and stopped; the first flow goes on.
      rmSync(join(flowsDir, 'second.yaml'));
      expect(status.snapshot().flows.map((flow) => flow.name)).toEqual(['line', 'second']);
      await waitFor('the deleted flow stopped', () => service?.flowNames.includes('second') === false, 15_000);
      expect(service.flowNames).toEqual(['line']);
      // Removed from the status page too; the restarts and live changes before removed nothing.
      await waitFor('the removal reported', () => removed.length > 0, 5_000);
      expect(removed).toEqual(['second']);
      expect(status.snapshot().flows.map((flow) => flow.name)).toEqual(['line']);
      const fifth = await send('reload/line');
      await waitFor("the fifth frame's result", () => resultOf(fifth) !== undefined, 15_000);
    } finally {
      await publisher.endAsync();
    }
  });
});

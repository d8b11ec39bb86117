import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelFolderWatcher } from '../../src/pipeline/model-folder-watcher.ts';
import { waitFor } from '../helpers/wait-for.ts';

// The swap trigger on a real file system: a folder renamed into place and files written in place are each reported
// once the folder is quiet; a sibling folder's changes are not; a removed listener hears nothing more.

const root = mkdtempSync(join(tmpdir(), 'edgeke-model-watch-'));
const logger = pino({ level: 'silent' });

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('ModelFolderWatcher', () => {
  it('reports a folder renamed into place and files written in place, once each quiet period, and nothing else', async () => {
    const models = join(root, 'models');
    const model = join(models, 'bearing');
    mkdirSync(model, { recursive: true });
    mkdirSync(join(models, 'other'));
    writeFileSync(join(model, 'manifest.json'), '{"v":1}');
    const watcher = new ModelFolderWatcher({ logger, quietMs: 300 });
    const calls: number[] = [];
    const listener = (): number => calls.push(Date.now());
    watcher.add(model, listener);
    try {
      // A sibling changes: not this model.
      writeFileSync(join(models, 'other', 'manifest.json'), '{}');
      // A new folder renamed into place (the old one moved aside first): one report for the burst of events.
      mkdirSync(join(root, 'bearing.new'));
      writeFileSync(join(root, 'bearing.new', 'manifest.json'), '{"v":2}');
      renameSync(model, join(root, 'bearing.old'));
      renameSync(join(root, 'bearing.new'), model);
      await waitFor('the rename reported', () => calls.length === 1, 10_000);
      // The watch moved to the new folder: a manifest rewritten in it is reported too.
      writeFileSync(join(model, 'stage1.onnx'), 'x');
      writeFileSync(join(model, 'manifest.json'), '{"v":3}');
      await waitFor('the in-place write reported', () => calls.length === 2, 10_000);
      // The folder moved aside is not watched any more. (A negative can only be checked by waiting: over twice the
      // quiet period.)
      const quietAndMargin = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 800));
      writeFileSync(join(root, 'bearing.old', 'manifest.json'), '{"v":0}');
      await quietAndMargin();
      expect(calls).toHaveLength(2);
      // A removed listener hears nothing more.
      watcher.remove(model, listener);
      writeFileSync(join(model, 'manifest.json'), '{"v":4}');
      await quietAndMargin();
      expect(calls).toHaveLength(2);
    } finally {
      watcher.close();
    }
  });
});

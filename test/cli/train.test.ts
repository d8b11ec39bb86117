import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { findTrainingPython, TrainingToolkitError } from '../../src/cli/training-python.ts';
import { captureIo } from '../helpers/capture-io.ts';

// How `edgeke train` finds the Python toolkit, and what it says when it cannot (no training runs here: the
// integration suite trains for real, test/integration/model/train-command.test.ts).
describe('edgeke train', () => {
  it('reports an interpreter that cannot run the toolkit, naming it and the way out', async () => {
    const error = await findTrainingPython({ EDGEKE_PYTHON: '/nonexistent/python3' }, resolve('.')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingToolkitError);
    expect((error as TrainingToolkitError).code).toBe('EDGEKE_TRAINING_TOOLKIT');
    expect((error as Error).message).toContain('/nonexistent/python3');
    expect((error as Error).message).toContain('EDGEKE_PYTHON');
  });

  it.runIf(existsSync('/usr/bin/python3'))('finds the Debian python with PyTorch when EDGEKE_PYTHON is not set', async () => {
    expect(await findTrainingPython({}, resolve('.'))).toBe('/usr/bin/python3');
  }, 60_000);

  it('exits 1 with a message when the toolkit cannot be found, before reading any data', async () => {
    const previous = process.env.EDGEKE_PYTHON;
    process.env.EDGEKE_PYTHON = '/nonexistent/python3';
    try {
      const { io, err } = captureIo();
      expect(await main(['train', 'data/neu-surface/test', '--out', '/tmp/edgeke-never-written'], io)).toBe(1);
      expect(err()).toMatch(/^edgeke train: no Python for the training toolkit: tried \/nonexistent\/python3/);
      expect(existsSync('/tmp/edgeke-never-written')).toBe(false);
    } finally {
      if (previous === undefined) delete process.env.EDGEKE_PYTHON;
      else process.env.EDGEKE_PYTHON = previous;
    }
  });

  it('needs --out', async () => {
    const { io, err } = captureIo();
    expect(await main(['train', 'data/neu-surface/test'], io)).toBe(2);
    expect(err()).toContain('--out <model-dir> is required');
  });
});

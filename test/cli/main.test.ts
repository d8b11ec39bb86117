import { describe, expect, it } from 'vitest';
import { main } from '../../src/edgeke.ts';
import { captureIo } from '../helpers/capture-io.ts';

describe('edgeke command line', () => {
  it('lists every subcommand in its help', async () => {
    const { io, out } = captureIo();
    expect(await main(['--help'], io)).toBe(0);
    for (const name of ['run', 'demo', 'check', 'eval', 'profile', 'bench']) expect(out()).toContain(`  ${name} `);
  });

  it('prints help and exits 2 without a command', async () => {
    const { io, out } = captureIo();
    expect(await main([], io)).toBe(2);
    expect(out()).toContain('Usage: edgeke <command>');
  });

  it('rejects an unknown command with help and exit code 2', async () => {
    const { io, err } = captureIo();
    expect(await main(['frobnicate'], io)).toBe(2);
    expect(err()).toContain("unknown command 'frobnicate'");
    expect(err()).toContain('Commands:');
  });

  it('rejects an unknown option with the command usage and exit code 2', async () => {
    const { io, err } = captureIo();
    expect(await main(['check', '--no-such-option'], io)).toBe(2);
    expect(err()).toContain("Unknown option '--no-such-option'");
    expect(err()).toContain('Usage: edgeke check');
  });
});

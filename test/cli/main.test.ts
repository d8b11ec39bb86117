import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';

function captureIo(): { io: { stdout: PassThrough; stderr: PassThrough }; out: () => string; err: () => string } {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { io: { stdout, stderr }, out: () => out, err: () => err };
}

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

import type { Command } from '../command.ts';

export const benchCommand: Command = {
  name: 'bench',
  summary: 'Run a benchmark from bench/ (runtime, policies, e2e)',
  usage: 'edgeke bench',
  options: {},
  positionals: { min: 0, max: 0 },
  async run({ stderr }) {
    stderr.write('edgeke bench: not built yet\n');
    return 1;
  },
};

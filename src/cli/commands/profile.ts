import type { Command } from '../command.ts';

export const profileCommand: Command = {
  name: 'profile',
  summary: 'Measure the latency of each stage on this machine and cache the profile',
  usage: 'edgeke profile',
  options: {},
  positionals: { min: 0, max: 0 },
  async run({ stderr }) {
    stderr.write('edgeke profile: not built yet\n');
    return 1;
  },
};

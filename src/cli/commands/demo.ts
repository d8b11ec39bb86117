import type { Command } from '../command.ts';

export const demoCommand: Command = {
  name: 'demo',
  summary: 'Run the whole system on embedded defaults (broker, simulated devices, real data)',
  usage: 'edgeke demo',
  options: {},
  positionals: { min: 0, max: 0 },
  async run({ stderr }) {
    stderr.write('edgeke demo: not built yet\n');
    return 1;
  },
};

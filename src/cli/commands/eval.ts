import type { Command } from '../command.ts';

export const evalCommand: Command = {
  name: 'eval',
  summary: 'Measure the per-exit accuracy of a model on its test split',
  usage: 'edgeke eval',
  options: {},
  positionals: { min: 0, max: 0 },
  async run({ stderr }) {
    stderr.write('edgeke eval: not built yet\n');
    return 1;
  },
};

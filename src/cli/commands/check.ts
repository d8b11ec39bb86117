import type { Command } from '../command.ts';

export const checkCommand: Command = {
  name: 'check',
  summary: 'Validate flow files without connecting to anything',
  usage: 'edgeke check',
  options: {},
  positionals: { min: 0, max: 0 },
  async run({ stderr }) {
    stderr.write('edgeke check: not built yet\n');
    return 1;
  },
};

import type { Command } from '../command.ts';

export const runCommand: Command = {
  name: 'run',
  summary: 'Run the flows in a folder: devices in, multi-exit model, InfluxDB and MQTT out',
  usage: 'edgeke run',
  options: {},
  positionals: { min: 0, max: 0 },
  async run({ stderr }) {
    stderr.write('edgeke run: not built yet\n');
    return 1;
  },
};

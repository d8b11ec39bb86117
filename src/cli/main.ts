import { parseArgs } from 'node:util';
import { UsageError, type Command, type CommandIo } from './command.ts';

/** Subcommands load lazily so `edgeke check` does not pay for the model runtime or the OPC UA stack. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./commands/run.ts')).runCommand,
  demo: async () => (await import('./commands/demo.ts')).demoCommand,
  check: async () => (await import('./commands/check.ts')).checkCommand,
  eval: async () => (await import('./commands/eval.ts')).evalCommand,
  profile: async () => (await import('./commands/profile.ts')).profileCommand,
  bench: async () => (await import('./commands/bench.ts')).benchCommand,
  train: async () => (await import('./commands/train.ts')).trainCommand,
};

const EXIT_USAGE = 2;

async function generalHelp(): Promise<string> {
  const lines = ['EdgeKE: deadline-aware multi-exit inference for industrial edge devices.', '', 'Usage: edgeke <command> [options]', '', 'Commands:'];
  for (const load of Object.values(COMMANDS)) {
    const command = await load();
    lines.push(`  ${command.name.padEnd(9)} ${command.summary}`);
  }
  lines.push('', 'Run `edgeke <command> --help` for a command\'s options.');
  return lines.join('\n') + '\n';
}

function commandHelp(command: Command): string {
  const lines = [`Usage: ${command.usage}`, '', command.summary];
  if (command.details !== undefined) lines.push('', command.details.trimEnd());
  return lines.join('\n') + '\n';
}

/** Entry point of the `edgeke` command; returns the exit code. */
export async function main(argv: string[], io: CommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(await generalHelp());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    io.stderr.write(`edgeke: unknown command '${name}'\n\n${await generalHelp()}`);
    return EXIT_USAGE;
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
    if (positionals.length < command.positionals.min || positionals.length > command.positionals.max) {
      throw new UsageError(`expected ${describeCount(command.positionals)}, got ${positionals.length}`);
    }
    return await command.run({ values, positionals, ...io });
  } catch (error) {
    if (error instanceof UsageError || isParseArgsError(error)) {
      io.stderr.write(`edgeke ${name}: ${(error as Error).message}\n\n${commandHelp(command)}`);
      return EXIT_USAGE;
    }
    throw error;
  }
}

function describeCount({ min, max }: { min: number; max: number }): string {
  if (min === max) return `${min} argument${min === 1 ? '' : 's'}`;
  return `${min} to ${max} arguments`;
}

function isParseArgsError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS');
}

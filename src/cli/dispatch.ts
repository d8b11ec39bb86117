import { parseArgs } from 'node:util';
import { UsageError, type Command, type CommandIo } from '../core/command.ts';

/**
 * The `edgeke` subcommands by name, each loaded on first use so `edgeke check` does not pay for the model runtime
 * or the OPC UA stack. The table itself lives in src/edgeke.ts, the one module that sees both src/cli and src/demo.
 */
export type CommandTable = Readonly<Record<string, () => Promise<Command>>>;

const EXIT_USAGE = 2;

async function generalHelp(commands: CommandTable): Promise<string> {
  const lines = ['EdgeKE: deadline-aware multi-exit inference for industrial edge devices.', '', 'Usage: edgeke <command> [options]', '', 'Commands:'];
  for (const load of Object.values(commands)) {
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

/** Parses `argv` and runs the named command from `commands`; returns the exit code. */
export async function dispatch(commands: CommandTable, argv: string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(await generalHelp(commands));
    return name === undefined ? EXIT_USAGE : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    io.stderr.write(`edgeke: unknown command '${name}'\n\n${await generalHelp(commands)}`);
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

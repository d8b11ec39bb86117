import type { CommandIo } from './core/command.ts';
import { dispatch, type CommandTable } from './cli/dispatch.ts';

/**
 * The `edgeke` command: the top of the import layering (docs/architecture.md), the only module that sees both the
 * CLI's commands and the demo's. Commands load lazily (see CommandTable).
 */
const COMMANDS: CommandTable = {
  run: async () => (await import('./cli/commands/run.ts')).runCommand,
  demo: async () => (await import('./demo/demo-command.ts')).demoCommand,
  check: async () => (await import('./cli/commands/check.ts')).checkCommand,
  eval: async () => (await import('./cli/commands/eval.ts')).evalCommand,
  profile: async () => (await import('./cli/commands/profile.ts')).profileCommand,
  bench: async () => (await import('./cli/commands/bench.ts')).benchCommand,
  train: async () => (await import('./cli/commands/train.ts')).trainCommand,
};

/** Entry point of the `edgeke` command; returns the exit code. */
export function main(argv: string[], io: CommandIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  return dispatch(COMMANDS, argv, io);
}

import type { ParseArgsConfig } from 'node:util';

export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** Parsed option values, as node:util parseArgs returns them. */
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface CommandIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface CommandInput extends CommandIo {
  values: OptionValues;
  positionals: string[];
}

/**
 * One `edgeke` subcommand. Each lives in its own file (src/cli/commands/, src/demo/demo-command.ts); the contract is
 * here, below both, so the demo can offer its command without importing the CLI.
 */
export interface Command {
  name: string;
  summary: string;
  /** One usage line, e.g. `edgeke profile <model-dir> [--engine onnx|tfjs] [--json]`. */
  usage: string;
  /** Extra help text shown by `edgeke <name> --help` (options, examples). */
  details?: string;
  options: OptionSpecs;
  /** How many positional arguments the command takes. */
  positionals: { min: number; max: number };
  /** Returns the process exit code. */
  run(input: CommandInput): Promise<number>;
}

/** A wrong invocation: main prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  readonly code = 'EDGEKE_USAGE';
  readonly retryable = false;
}

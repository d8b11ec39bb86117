import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

/** An `edgeke run` child process, its output so far (stdout and stderr) and its exit. */
export interface EdgekeChild {
  process: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/**
 * Starts `node bin/edgeke.js run <args>` with LOG_LEVEL info and `env` on top of this process's environment; in `cwd`
 * when given (its own `.cache/profiles` and `.edgeke`, so models are profiled afresh; paths in flow files absolute).
 */
export function runEdgeke(args: string[], env: Record<string, string> = {}, cwd?: string): EdgekeChild {
  const child = spawn(process.execPath, [resolve('bin/edgeke.js'), 'run', ...args], {
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(cwd === undefined ? {} : { cwd }),
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { process: child, output: () => output, exited };
}

/** Its exit code, or SIGKILL after `ms` (then the code is null). */
export async function exitWithin(child: EdgekeChild, ms: number): Promise<number | null> {
  const timer = setTimeout(() => child.process.kill('SIGKILL'), ms);
  try {
    return await child.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Test teardown: SIGKILLs a child that is still running and waits for it to be gone. */
export async function killEdgeke(child: EdgekeChild | undefined): Promise<void> {
  if (child === undefined || child.process.exitCode !== null) return;
  child.process.kill('SIGKILL');
  await child.exited;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ManagedProcessOptions {
  /** Short name used in error messages. */
  name: string;
  command: string;
  args: string[];
  /** stdout and stderr are appended here, so a failed start can show the service's own words. */
  logFile: string;
  /** Resolves true once the service answers; polled until `startTimeoutMs`. */
  isReady: () => Promise<boolean>;
  startTimeoutMs?: number;
}

/**
 * A real service binary (Mosquitto, influxd) run by the tests: started, stopped, restarted on the same ports and
 * folders, or frozen with SIGSTOP to simulate a half-open connection.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly options: ManagedProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  async start(): Promise<void> {
    const { name, command, args, logFile } = this.options;
    const log = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    let exitCode: number | null = null;
    child.once('exit', (code) => {
      exitCode = code ?? -1;
    });

    const deadline = Date.now() + (this.options.startTimeoutMs ?? 30_000);
    while (Date.now() < deadline) {
      if (exitCode !== null) {
        throw new Error(`${name} exited with code ${exitCode} during start; its log:\n${this.tail()}`);
      }
      if (await this.options.isReady().catch(() => false)) return;
      await sleep(100);
    }
    await this.stop();
    throw new Error(`${name} did not become ready in time; its log:\n${this.tail()}`);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 5_000): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT');
    child.kill('SIGTERM');
    const killed = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!killed) {
      child.kill('SIGKILL');
      await this.exited;
    }
    this.child = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Freezes the process: its sockets stay open but nothing answers (a half-open connection). */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  private tail(): string {
    try {
      return readFileSync(this.options.logFile, 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** pino's numeric level of `warn`. */
const WARN = 40;
/** How long the table shows a logged warning. */
const WARNING_SHOWN_MS = 10_000;

/**
 * Where the demo's logs go while its table owns the terminal: a file (appended, synchronously, so nothing is lost on
 * exit), remembering the latest warning so the table can show it on its warning line.
 */
export class DemoLogDestination {
  private readonly fd: number;
  private latest: { text: string; at: number } | undefined;
  private closed = false;

  constructor(
    readonly path: string,
    private readonly now: () => number = Date.now,
  ) {
    mkdirSync(dirname(path), { recursive: true });
    this.fd = openSync(path, 'a');
  }

  /** The message of the latest log line at warn or above, while it is recent (a warning line is for what needs attention now). */
  get lastWarning(): string | undefined {
    return this.latest !== undefined && this.now() - this.latest.at <= WARNING_SHOWN_MS ? this.latest.text : undefined;
  }

  /** A pino log line (one JSON object). */
  write(line: string): void {
    if (this.closed) return;
    writeSync(this.fd, line);
    try {
      const entry = JSON.parse(line) as { level?: unknown; msg?: unknown; flow?: unknown; component?: unknown };
      if (typeof entry.level === 'number' && entry.level >= WARN && typeof entry.msg === 'string') {
        const where = typeof entry.flow === 'string' ? entry.flow : typeof entry.component === 'string' ? entry.component : undefined;
        this.latest = { text: where === undefined ? entry.msg : `${where}: ${entry.msg}`, at: this.now() };
      }
    } catch {
      // Not JSON (cannot happen with pino): it is in the file all the same.
    }
  }

  /** Text a library printed on its own (console.log). */
  writeText(text: string): void {
    if (this.closed) return;
    writeSync(this.fd, text);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { findBinary } from './find-binary.ts';

/**
 * Debian's chromium, headless, driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: JSON messages
 * ended by a NUL byte, commands on fd 3, replies and events on fd 4), so no WebSocket client is needed.
 */
export class HeadlessChromium {
  private nextId = 1;
  private buffer = '';
  private readonly pending = new Map<number, { resolve: (value: Record<string, unknown>) => void; reject: (error: Error) => void }>();
  private sessionId: string | undefined;

  private constructor(
    private readonly child: ChildProcess,
    private readonly profileDir: string,
  ) {
    const replies = child.stdio[4] as Readable;
    replies.setEncoding('utf8');
    replies.on('data', (chunk: string) => {
      this.buffer += chunk;
      let end: number;
      while ((end = this.buffer.indexOf('\0')) >= 0) {
        const message = JSON.parse(this.buffer.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } };
        this.buffer = this.buffer.slice(end + 1);
        const waiter = message.id === undefined ? undefined : this.pending.get(message.id);
        if (waiter === undefined || message.id === undefined) continue;
        this.pending.delete(message.id);
        if (message.error !== undefined) waiter.reject(new Error(`chromium: ${message.error.message}`));
        else waiter.resolve(message.result ?? {});
      }
    });
    child.once('exit', (code) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`chromium exited (${code})`));
      this.pending.clear();
    });
  }

  static launch(): HeadlessChromium {
    const binary = findBinary('chromium', 'chromium');
    const profileDir = mkdtempSync(join(tmpdir(), 'edgeke-chromium-'));
    const child = spawn(
      binary,
      [
        '--headless=new',
        '--no-sandbox', // CI containers run as root
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--remote-debugging-pipe',
        `--user-data-dir=${profileDir}`,
        '--window-size=1400,1000',
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] },
    );
    return new HeadlessChromium(child, profileDir);
  }

  private send(method: string, params: Record<string, unknown> = {}, session = true): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const message = { id, method, params, ...(session && this.sessionId !== undefined ? { sessionId: this.sessionId } : {}) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.child.stdio[3] as Writable).write(`${JSON.stringify(message)}\0`);
    });
  }

  /** Opens `url` in a new page and attaches to it. */
  async open(url: string): Promise<void> {
    const { targetId } = (await this.send('Target.createTarget', { url }, false)) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true }, false)) as { sessionId: string };
    this.sessionId = sessionId;
  }

  /** Runs `expression` in the page; returns its value (JSON-serialisable). */
  async evaluate<T>(expression: string): Promise<T> {
    const reply = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value?: unknown };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (reply.exceptionDetails !== undefined) {
      throw new Error(`page threw: ${reply.exceptionDetails.exception?.description ?? reply.exceptionDetails.text}`);
    }
    return reply.result.value as T;
  }

  /** A PNG of the page as it looks now. */
  async screenshot(): Promise<Buffer> {
    const { data } = (await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true })) as { data: string };
    return Buffer.from(data, 'base64');
  }

  async close(): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    this.child.kill('SIGTERM');
    await exited;
    // Chromium's helper processes can still be writing the profile for a moment after the browser exits
    // (ENOTEMPTY once on a busy core): retried.
    rmSync(this.profileDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
}

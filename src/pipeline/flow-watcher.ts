import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { formatFlowIssue, type FlowIssue } from '../flows/errors.ts';
import { checkFlows, type LoadedFlow } from '../flows/load.ts';

export interface FlowWatcherOptions {
  /** The folders and files `edgeke run` was given. */
  paths: readonly string[];
  logger: Logger;
  /** Rapid saves (editors write a file several times) collapse into one reload after this quiet time. */
  debounceMs?: number;
  /** Called with the complete, valid set of flows after each change. */
  onFlows: (flows: LoadedFlow[]) => Promise<void>;
  /** Called when an edit is rejected (the running flows keep their last good config). */
  onRejected?: (issues: readonly FlowIssue[]) => void;
}

/**
 * Watches flow files for live tuning. Every change re-validates all files exactly like `edgeke check`; a bad edit
 * is logged once (per distinct set of problems) and rejected as a whole, so the running flows keep going.
 */
export class FlowWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  private lastRejection = '';
  private closed = false;

  constructor(private readonly options: FlowWatcherOptions) {}

  async start(): Promise<void> {
    // Watch folders, not files: editors replace a file on save, which ends a watch on the file itself.
    const folders = new Set<string>();
    for (const path of this.options.paths) {
      const isDirectory = await stat(path).then((s) => s.isDirectory()).catch(() => false);
      folders.add(isDirectory ? path : dirname(path));
    }
    for (const folder of folders) {
      const watcher = watch(folder, () => this.changed());
      watcher.on('error', (error) => this.options.logger.warn({ err: error, folder }, 'flow folder watch failed'));
      this.watchers.push(watcher);
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    for (const watcher of this.watchers) watcher.close();
  }

  /** Waits for a reload in progress (tests, shutdown). */
  settled(): Promise<void> {
    return this.reloading;
  }

  private changed(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.reloading = this.reloading.then(() => this.reload());
    }, this.options.debounceMs ?? 300);
  }

  private async reload(): Promise<void> {
    if (this.closed) return;
    const { flows, issues } = await checkFlows(this.options.paths);
    if (issues.length > 0) {
      const text = issues.map(formatFlowIssue).join('\n');
      if (text !== this.lastRejection) {
        this.options.logger.error({ problems: issues.map(formatFlowIssue) }, 'flow edit rejected; running flows keep their last good config');
      }
      this.lastRejection = text;
      this.options.onRejected?.(issues);
      return;
    }
    this.lastRejection = '';
    try {
      await this.options.onFlows(flows);
    } catch (error) {
      this.options.logger.error({ err: error }, 'applying the flow change failed');
    }
  }
}

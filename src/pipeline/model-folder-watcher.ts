import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';

export interface ModelFolderWatcherOptions {
  logger: Logger;
  /**
   * A change is reported once the folder has been quiet this long (default 500 ms): a copy writes many files, and
   * an attempt mid-copy would load half a model. A copy with longer pauses is still safe: the model is hashed before
   * and after loading, a half-copied one fails to load, and the next change tries again.
   */
  quietMs?: number;
}

interface Watched {
  folder: FSWatcher | undefined;
  parent: FSWatcher;
  timer: NodeJS.Timeout | undefined;
  /** One per model loaded from the folder (one per engine and thread count). */
  listeners: Set<() => void>;
}

/**
 * Watches model folders for replacement, both ways a user replaces one: files written in place (manifest.json last)
 * are events in the folder; a new folder renamed into place (`mv model.new model`, or a symlink switched with
 * `ln -sfn`) is an event in its parent, after which the folder is watched anew (a watch follows the old inode).
 * It only says "something changed, now quiet"; whether the model did is for the caller to tell (its content hash).
 */
export class ModelFolderWatcher {
  private readonly watched = new Map<string, Watched>();
  private closed = false;

  constructor(private readonly options: ModelFolderWatcherOptions) {}

  /** Watches `path` until every listener is removed; `onChange` runs once per quiet period after changes. */
  add(path: string, onChange: () => void): void {
    const absolute = resolve(path);
    if (this.closed) return;
    const existing = this.watched.get(absolute);
    if (existing !== undefined) {
      existing.listeners.add(onChange);
      return;
    }
    const name = basename(absolute);
    const parent = watch(dirname(absolute), (_event, file) => {
      if (file !== null && file.toString() !== name) return;
      this.rewatchFolder(absolute);
      this.changed(absolute);
    });
    parent.on('error', (error) => this.options.logger.warn({ err: error, folder: dirname(absolute) }, 'model folder watch failed'));
    const entry: Watched = { folder: undefined, parent, timer: undefined, listeners: new Set([onChange]) };
    this.watched.set(absolute, entry);
    this.rewatchFolder(absolute);
  }

  /** Stops calling `onChange` (every listener: none given); the folder is no longer watched once none is left. */
  remove(path: string, onChange?: () => void): void {
    const absolute = resolve(path);
    const entry = this.watched.get(absolute);
    if (entry === undefined) return;
    if (onChange !== undefined) entry.listeners.delete(onChange);
    else entry.listeners.clear();
    if (entry.listeners.size > 0) return;
    this.watched.delete(absolute);
    clearTimeout(entry.timer);
    entry.folder?.close();
    entry.parent.close();
  }

  close(): void {
    this.closed = true;
    for (const path of [...this.watched.keys()]) this.remove(path);
  }

  private rewatchFolder(path: string): void {
    const entry = this.watched.get(path);
    if (entry === undefined) return;
    entry.folder?.close();
    entry.folder = undefined;
    try {
      const folder = watch(path, () => this.changed(path));
      // The folder went away (renamed, deleted): its parent's watch sees the new one arrive.
      folder.on('error', () => undefined);
      entry.folder = folder;
    } catch {
      // Not there right now (between the two renames of a swap): the parent's watch sees it come back.
    }
  }

  private changed(path: string): void {
    const entry = this.watched.get(path);
    if (entry === undefined || this.closed) return;
    clearTimeout(entry.timer);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      for (const listener of entry.listeners) listener();
    }, this.options.quietMs ?? 500);
  }
}

import { watch, type FSWatcher } from 'node:fs';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { formatFlowIssue, type FlowIssue } from '../flows/errors.ts';
import { checkFlowFiles, duplicateNameIssue, type CheckedFlowFile, type LoadedFlow, type LoadOptions } from '../flows/load.ts';

export interface FlowWatcherOptions {
  /** The folders and files `edgeke run` was given. */
  paths: readonly string[];
  /** The flows running now (what `edgeke run` started): a file broken from the first edit keeps its flow. */
  running: readonly LoadedFlow[];
  logger: Logger;
  /** Rapid saves (editors write a file several times) collapse into one reload after this quiet time. */
  debounceMs?: number;
  /** Variables for `${VAR}` references; default process.env. */
  env?: LoadOptions['env'];
  /**
   * Called after each change with the complete set of flows to run: every valid file's flow, and for a broken file
   * the last good flow it had (none when it never had one).
   */
  onFlows: (flows: LoadedFlow[]) => Promise<void>;
  /** Called with the problems of the files whose rejection was just logged (each time a broken file changes). */
  onRejected?: (issues: readonly FlowIssue[]) => void;
}

/**
 * Watches flow files for live tuning, one file at a time: each file is validated on its own exactly like
 * `edgeke check`. A broken file blocks only itself: its flow keeps its last good config while every other file's
 * edits apply. Its rejection is logged each time the file changes (not again while it sits unchanged).
 */
export class FlowWatcher {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  /** The last valid flow of each file (what runs for it). */
  private readonly lastGood = new Map<string, LoadedFlow>();
  /** Content hash of each broken file as last rejected, so an unchanged broken file is not logged again. */
  private readonly rejectedContent = new Map<string, string>();
  private lastPathProblems = '';
  /** The problems of each file rejected at the last reload (readiness notices). */
  private readonly rejectedProblems = new Map<string, string[]>();
  private closed = false;

  constructor(private readonly options: FlowWatcherOptions) {
    for (const flow of options.running) this.lastGood.set(flow.file, flow);
  }

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

  /**
   * What the last reload rejected: each broken file with its problems (and the folders when they could not be
   * read). A rejection does not block readiness: the file's flow keeps its last good config, or it starts none.
   */
  rejections(): { name: string; detail: string }[] {
    const notices = [...this.rejectedProblems].map(([file, problems]) => ({ name: `file:${file}`, detail: `rejected: ${problems.join('; ')}` }));
    if (this.lastPathProblems !== '') notices.push({ name: 'flow-folders', detail: `rejected: ${this.lastPathProblems.replaceAll('\n', '; ')}` });
    return notices;
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
    const { files, issues: pathIssues } = await checkFlowFiles(this.options.paths, this.options.env === undefined ? {} : { env: this.options.env });
    if (pathIssues.length > 0) {
      // A folder gone or emptied: most likely mid-edit (a checkout, a move), not "stop every flow". Keep them all.
      const text = pathIssues.map(formatFlowIssue).join('\n');
      if (text !== this.lastPathProblems) {
        this.options.logger.error({ problems: pathIssues.map(formatFlowIssue) }, 'flow folder rejected; running flows keep their last good config');
        this.options.onRejected?.(pathIssues);
      }
      this.lastPathProblems = text;
      return;
    }
    this.lastPathProblems = '';
    const { flows, rejected } = this.resolve(files);
    const present = new Set(files.map((checked) => checked.file));
    for (const file of [...this.lastGood.keys()]) if (!present.has(file)) this.lastGood.delete(file);
    for (const file of [...this.rejectedContent.keys()]) if (!present.has(file) || !rejected.has(file)) this.rejectedContent.delete(file);
    this.rejectedProblems.clear();
    for (const [file, { issues }] of rejected) this.rejectedProblems.set(file, issues.map(formatFlowIssue));

    const newlyRejected: FlowIssue[] = [];
    for (const [file, { issues, contentHash }] of rejected) {
      if (this.rejectedContent.get(file) === contentHash) continue;
      this.rejectedContent.set(file, contentHash);
      const keeps = this.lastGood.get(file);
      this.options.logger.error(
        { file, problems: issues.map(formatFlowIssue), ...(keeps === undefined ? {} : { flow: keeps.config.name }) },
        keeps === undefined ? 'flow file rejected; it starts no flow until it is fixed' : 'flow file rejected; its flow keeps its last good config',
      );
      newlyRejected.push(...issues);
    }
    if (newlyRejected.length > 0) this.options.onRejected?.(newlyRejected);
    try {
      await this.options.onFlows(flows);
    } catch (error) {
      this.options.logger.error({ err: error }, 'applying the flow change failed');
    }
  }

  /**
   * The flows to run, file by file: a valid file's new flow (remembered as its last good one), else its last good
   * flow. A name that two files claim stays with the file already running it (else the first file in order); the
   * other file is rejected.
   */
  private resolve(files: readonly CheckedFlowFile[]): { flows: LoadedFlow[]; rejected: Map<string, { issues: FlowIssue[]; contentHash: string }> } {
    const rejected = new Map<string, { issues: FlowIssue[]; contentHash: string }>();
    const owner = new Map<string, string>();
    for (const flow of this.lastGood.values()) owner.set(flow.config.name, flow.file);
    const candidates: { checked: CheckedFlowFile; flow: LoadedFlow }[] = [];
    for (const checked of files) {
      if (checked.flow !== undefined) candidates.push({ checked, flow: checked.flow });
      else rejected.set(checked.file, { issues: checked.issues, contentHash: checked.contentHash });
    }
    const claimed = new Map<string, string>();
    const flows: LoadedFlow[] = [];
    const take = (flow: LoadedFlow): void => {
      claimed.set(flow.config.name, flow.file);
      flows.push(flow);
    };
    // Files already running a name keep it; then the others in file order.
    const ordered = [
      ...candidates.filter(({ flow }) => owner.get(flow.config.name) === flow.file),
      ...candidates.filter(({ flow }) => owner.get(flow.config.name) !== flow.file),
    ];
    for (const { checked, flow } of ordered) {
      // Taken by a file already in this set, or still run by a broken file's last good flow.
      const runningHolder = owner.get(flow.config.name);
      const blockedBy = claimed.get(flow.config.name) ?? (runningHolder !== undefined && runningHolder !== flow.file && rejected.has(runningHolder) ? runningHolder : undefined);
      if (blockedBy !== undefined) {
        rejected.set(checked.file, { issues: [duplicateNameIssue(checked, blockedBy)], contentHash: checked.contentHash });
        continue;
      }
      this.lastGood.set(checked.file, flow);
      take(flow);
    }
    // Broken files run their last good flow, unless another file has taken its name meanwhile.
    for (const file of rejected.keys()) {
      const last = this.lastGood.get(file);
      if (last !== undefined && !claimed.has(last.config.name)) take(last);
    }
    return { flows, rejected };
  }
}

/**
 * Checks that a flow fits the model it names (decoder vs model input, window length, pinned exit, vote weights,
 * calibrated thresholds), from the model's manifest. Used by `edgeke check`; the runtime finds the same mismatches
 * when it builds the flow (a pinned exit past the last one runs to the last), this only reports them earlier and all
 * at once.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { readManifest, type Manifest } from '../model/manifest.ts';
import type { FlowIssue } from './errors.ts';
import type { LoadedFlow } from './load.ts';
import type { FlowConfig } from './schema.ts';

export interface ModelMismatch {
  path: string;
  message: string;
  /** 'error': the flow cannot run with this model. 'note': it runs, but a setting has no effect. */
  severity: 'error' | 'note';
}

/** Problems of one flow against one manifest: the path in the flow and what was expected. */
export function modelMismatches(flow: FlowConfig, manifest: Pick<Manifest, 'name' | 'input' | 'exits' | 'vote'>): ModelMismatch[] {
  const problems: ModelMismatch[] = [];
  const preprocessing = manifest.input.preprocessing;
  const wantsImage = flow.decode === 'image';
  if (wantsImage !== (preprocessing.kind === 'image')) {
    problems.push({
      severity: 'error',
      path: 'decode',
      message: `model ${manifest.name} takes ${preprocessing.kind} input: expected ${preprocessing.kind === 'image' ? "'image'" : "'json-values', 'float32' or 'opcua-samples'"}`,
    });
  }
  if (flow.source.kind === 'opcua' && flow.source.window.by === 'count' && preprocessing.kind === 'signal' && flow.source.window.samples !== preprocessing.windowLength) {
    problems.push({ severity: 'error', path: 'source.window.samples', message: `expected ${preprocessing.windowLength} (the window length of model ${manifest.name})` });
  }
  if (flow.policy.vote && manifest.vote === undefined) {
    problems.push({ severity: 'error', path: 'policy.vote', message: `model ${manifest.name} ships no vote weights: expected false` });
  }
  const exitCount = manifest.exits.length;
  if (flow.policy.mode === 'fixed' && flow.policy.exit !== undefined && flow.policy.exit > exitCount) {
    problems.push({ severity: 'error', path: 'policy.exit', message: `model ${manifest.name} has ${exitCount} exits: expected 1..${exitCount}` });
  }
  const stop = flow.policy.confidenceStop;
  if (stop !== 'none' && manifest.exits.every((exit) => exit.thresholds[stop] === null || exit.thresholds[stop] === undefined)) {
    // Not fatal: frames simply never stop early.
    problems.push({ severity: 'note', path: 'policy.confidenceStop', message: `model ${manifest.name} has no exit calibrated for ${stop}, so frames never stop early` });
  }
  return problems;
}

export interface ModelCheckReport {
  issues: FlowIssue[];
  /** Flows whose model folder is not there (yet): not an error for `check`, said so. */
  notes: string[];
}

/** Reads each flow's model manifest (when its folder exists) and checks the flow against it. */
export async function checkFlowModels(flows: readonly LoadedFlow[], cwd = process.cwd()): Promise<ModelCheckReport> {
  const report: ModelCheckReport = { issues: [], notes: [] };
  for (const { file, config } of flows) {
    const dir = join(cwd, config.model.path);
    try {
      await access(dir);
    } catch {
      report.notes.push(`${config.name}: model folder ${config.model.path} not found; model checks skipped`);
      continue;
    }
    let manifest: Manifest;
    try {
      manifest = await readManifest(dir);
    } catch (error) {
      report.issues.push({ file, path: 'model.path', message: (error as Error).message.split('\n')[0] ?? 'unreadable manifest' });
      continue;
    }
    for (const { severity, path, message } of modelMismatches(config, manifest)) {
      if (severity === 'error') report.issues.push({ file, path, message });
      else report.notes.push(`${config.name}: ${path}: ${message}`);
    }
  }
  return report;
}

/**
 * Loads flow files: YAML, one flow per file, `${ENV}` interpolation, validation against the schema. Every file is
 * checked before any flow is returned, so a bad file stops the process before anything connects. Messages name the
 * file, the path in it and what was expected, and never echo values (they may be secrets from the environment).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parse as parseYaml, parseAllDocuments, Scalar, type Document } from 'yaml';
import type { z } from 'zod';
import { FlowConfigError, type FlowIssue } from './errors.ts';
import { hasReference, interpolate, type Env } from './interpolate.ts';
import { flowSchema, SECRET_PATHS, type FlowConfig } from './schema.ts';

export interface LoadedFlow {
  /** The file the flow came from, as given (or joined with its folder). */
  file: string;
  config: FlowConfig;
  /** Hash of the validated config: changes exactly when the effective config changes (hot reload). */
  configHash: string;
}

export interface LoadOptions {
  /** Variables for `${VAR}` references; default process.env. */
  env?: Env;
}

const FLOW_EXTENSIONS = new Set(['.yaml', '.yml']);

/** Files named directly, plus the *.yaml / *.yml files of folders (not recursive), in a stable order. */
export async function listFlowFiles(paths: readonly string[]): Promise<{ files: string[]; issues: FlowIssue[] }> {
  const files: string[] = [];
  const issues: FlowIssue[] = [];
  for (const path of paths) {
    let isDirectory: boolean;
    try {
      isDirectory = (await stat(path)).isDirectory();
    } catch {
      issues.push({ file: path, path: '', message: 'no such file or folder' });
      continue;
    }
    if (!isDirectory) {
      files.push(path);
      continue;
    }
    const entries = (await readdir(path, { withFileTypes: true }))
      .filter((entry) => entry.isFile() && FLOW_EXTENSIONS.has(extname(entry.name)))
      .map((entry) => join(path, entry.name))
      .sort();
    if (entries.length === 0) issues.push({ file: path, path: '', message: 'folder holds no flow files (*.yaml, *.yml)' });
    files.push(...entries);
  }
  return { files, issues };
}

/** Loads and validates every flow; throws FlowConfigError listing every problem in every file. */
export async function loadFlows(paths: readonly string[], options: LoadOptions = {}): Promise<LoadedFlow[]> {
  const { flows, issues } = await checkFlows(paths, options);
  if (issues.length > 0) throw new FlowConfigError(issues);
  return flows;
}

/** Like loadFlows, but returns the issues instead of throwing (for `edgeke check` and `edgeke run`). */
export async function checkFlows(paths: readonly string[], options: LoadOptions = {}): Promise<{ flows: LoadedFlow[]; issues: FlowIssue[] }> {
  const { files, issues } = await checkFlowFiles(paths, options);
  for (const checked of files) issues.push(...checked.issues);
  const flows: LoadedFlow[] = [];
  const firstFileByName = new Map<string, string>();
  for (const checked of files) {
    if (checked.flow === undefined) continue;
    const first = firstFileByName.get(checked.flow.config.name);
    if (first === undefined) {
      firstFileByName.set(checked.flow.config.name, checked.file);
      flows.push(checked.flow);
    } else {
      issues.push(duplicateNameIssue(checked, first));
    }
  }
  return { flows: issues.length === 0 ? flows : [], issues };
}

/** One flow file checked on its own (hot reload keeps a broken file from blocking the others). */
export interface CheckedFlowFile {
  file: string;
  /** The valid flow, when the file has no issue of its own (duplicate names are for the caller to judge). */
  flow?: LoadedFlow;
  issues: FlowIssue[];
  /** Line of the `name` field, for a duplicate-name issue. */
  nameLine?: number;
  /** Changes whenever the file's content does (a hash: the text may hold secrets once interpolated). */
  contentHash: string;
}

/**
 * Every flow file of `paths`, each parsed and validated alone. `issues` holds the problems of the paths themselves
 * (a missing folder, a folder with no flow file); duplicate names across files are not checked here.
 */
export async function checkFlowFiles(paths: readonly string[], options: LoadOptions = {}): Promise<{ files: CheckedFlowFile[]; issues: FlowIssue[] }> {
  const env = options.env ?? process.env;
  const { files: names, issues } = await listFlowFiles(paths);
  const files: CheckedFlowFile[] = [];
  for (const file of names) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      files.push({ file, issues: [{ file, path: '', message: 'cannot read the file' }], contentHash: 'unreadable' });
      continue;
    }
    const contentHash = createHash('sha256').update(text).digest('hex').slice(0, 16);
    const result = parseFlowText(text, file, env);
    files.push({
      file,
      issues: result.issues,
      contentHash,
      ...(result.flow === undefined ? {} : { flow: result.flow }),
      ...(result.nameLine === undefined ? {} : { nameLine: result.nameLine }),
    });
  }
  return { files, issues };
}

/** The issue of a file whose flow name another file already uses. */
export function duplicateNameIssue(checked: Pick<CheckedFlowFile, 'file' | 'nameLine'>, firstFile: string): FlowIssue {
  return { file: checked.file, path: 'name', line: checked.nameLine, message: `duplicate flow name: ${firstFile} already defines a flow with this name` };
}

/** Parses and validates one flow file's text. Pure apart from reading `env`. */
export function parseFlowText(text: string, file: string, env: Env): { flow?: LoadedFlow; issues: FlowIssue[]; nameLine?: number } {
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (!Array.isArray(documents) || documents.length === 0) return { issues: [{ file, path: '', message: 'the file is empty: expected one flow' }] };
  if (documents.length > 1) return { issues: [{ file, path: '', message: `expected one flow per file, found ${documents.length} YAML documents` }] };
  const document = documents[0] as Document.Parsed;
  const syntaxErrors = document.errors.map((error): FlowIssue => {
    // The YAML library's messages can quote the source line: keep only its code and position.
    const line = lineCounter.linePos(error.pos[0]).line;
    const message = `YAML syntax error (${error.code.toLowerCase().replaceAll('_', ' ')})`;
    return { file, path: '', line, message };
  });
  if (syntaxErrors.length > 0) return { issues: syntaxErrors };

  const context: Conversion = { document, env, file, lineCounter, issues: [], lines: new Map(), interpolatedPaths: new Set(), secrets: [], nodeBudget: MAX_NODES };
  const raw = toPlainValue(document.contents, [], context);
  if (context.nodeBudget < 0) return { issues: [{ file, path: '', message: `too many values (over ${MAX_NODES}, or nested deeper than ${MAX_DEPTH}, counting what YAML aliases expand to)` }] };
  if (context.issues.length > 0) return { issues: context.issues };

  const issues: FlowIssue[] = [];
  for (const secretPath of SECRET_PATHS) {
    if (valueAt(raw, secretPath) !== undefined && !context.interpolatedPaths.has(secretPath)) {
      issues.push(withLine({ file, path: secretPath, message: 'write secrets as ${ENV_VAR} references, not in the file' }, context.lines));
    }
  }
  const parsed = flowSchema.safeParse(raw);
  if (!parsed.success) issues.push(...parsed.error.issues.map((issue) => withLine(zodIssue(issue, file, raw), context.lines)));
  if (issues.length > 0 || !parsed.success) return { issues: issues.map((issue) => redact(issue, context.secrets)) };

  const configHash = createHash('sha256').update(JSON.stringify(parsed.data)).digest('hex').slice(0, 16);
  return { flow: { file, config: parsed.data, configHash }, issues: [], nameLine: context.lines.get('name') };
}

/** A flow file is small; this stops alias bombs and self-referencing aliases from expanding without end. */
const MAX_NODES = 100_000;
const MAX_DEPTH = 64;

/** Marks a field whose whole value was a reference that resolved to the empty string. */
const OMITTED = Symbol('omitted');

interface Conversion {
  document: Document.Parsed;
  env: Env;
  file: string;
  lineCounter: LineCounter;
  issues: FlowIssue[];
  /** Dotted path -> line, to point messages at the right line. */
  lines: Map<string, number>;
  interpolatedPaths: Set<string>;
  /** Env values substituted in; scrubbed from any message as a second line of defence. */
  secrets: string[];
  /** Values left to convert before the file counts as too big. */
  nodeBudget: number;
}

/** Converts the YAML tree to plain values, interpolating `${VAR}` in string scalars and noting each node's line. */
function toPlainValue(node: unknown, path: string[], context: Conversion): unknown {
  if (node === null || node === undefined) return null;
  context.nodeBudget -= 1;
  if (path.length > MAX_DEPTH) context.nodeBudget = -1;
  if (context.nodeBudget < 0) return null;
  const dotted = path.join('.');
  const range = (node as { range?: [number, number, number] }).range;
  if (range !== undefined) context.lines.set(dotted, context.lineCounter.linePos(range[0]).line);
  if (isAlias(node)) return toPlainValue(node.resolve(context.document), path, context);
  if (isMap(node)) {
    const result: Record<string, unknown> = {};
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const value = toPlainValue(pair.value, [...path, key], context);
      if (value !== OMITTED) result[key] = value;
    }
    return result;
  }
  if (isSeq(node)) return node.items.map((item, index) => toPlainValue(item, [...path, String(index)], context)).filter((item) => item !== OMITTED);
  if (isScalar(node)) return scalarValue(node, dotted, context);
  return null;
}

function scalarValue(node: Scalar, dotted: string, context: Conversion): unknown {
  const value = node.value;
  if (typeof value !== 'string' || !hasReference(value)) return value;
  const result = interpolate(value, context.env);
  if (!result.ok) {
    context.issues.push(withLine({ file: context.file, path: dotted, message: result.problem }, context.lines));
    return null;
  }
  context.interpolatedPaths.add(dotted);
  context.secrets.push(...result.substituted);
  // `password: ${MQTT_PASSWORD:-}` with the variable unset means "no password": leave the field out.
  if (result.whole && result.value === '') return OMITTED;
  // An unquoted `${PORT}` means what the value would mean written there: a number, a boolean.
  if (result.whole && node.type === Scalar.PLAIN) return coerceScalar(result.value);
  return result.value;
}

function coerceScalar(text: string): unknown {
  try {
    const value: unknown = parseYaml(text, { schema: 'core' });
    if (typeof value === 'number' || typeof value === 'boolean') return value;
  } catch {
    // not a scalar: keep the text
  }
  return text;
}

function valueAt(value: unknown, dotted: string): unknown {
  let current = value;
  for (const key of dotted.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function zodIssue(issue: z.core.$ZodIssue, file: string, raw: unknown): FlowIssue {
  const path = issue.path.map(String);
  if (path.length > 0 && valueAt(raw, path.join('.')) === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) {
    const expected = issue.message.replace(/^Invalid (input|option): /, '').replace(/, received undefined$/, '');
    return { file, path: path.join('.'), message: `required: ${expected}` };
  }
  if (issue.code === 'unrecognized_keys') {
    return { file, path: path.join('.'), message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `'${key}'`).join(', ')}` };
  }
  if (issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator !== undefined) {
    return { file, path: path.join('.'), message: issue.message.replace('Invalid discriminator value. Expected', 'expected') };
  }
  return { file, path: path.join('.'), message: issue.message.replace(/^Invalid (input|option): /, '') };
}

/** The line of the path, or of its nearest ancestor that the file spells out. */
function withLine(issue: FlowIssue, lines: Map<string, number>): FlowIssue {
  const parts = issue.path === '' ? [] : issue.path.split('.');
  for (let length = parts.length; length >= 0; length -= 1) {
    const line = lines.get(parts.slice(0, length).join('.'));
    if (line !== undefined) return { ...issue, line };
  }
  return issue;
}

const MIN_REDACTED_LENGTH = 3;

function redact(issue: FlowIssue, secrets: readonly string[]): FlowIssue {
  let message = issue.message;
  for (const secret of secrets) {
    if (secret.length >= MIN_REDACTED_LENGTH) message = message.split(secret).join('***');
  }
  return { ...issue, message };
}

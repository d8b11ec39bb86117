/**
 * Renders docs/flows.md from the flow schema (scripts/gen-flow-docs.ts writes it; a unit test fails when the file is
 * stale), so the documentation cannot drift from what `edgeke check` accepts.
 */
import { z } from 'zod';
import { flowSchema, type FieldDoc } from './schema.ts';

export interface FieldRow {
  path: string;
  type: string;
  default: string;
  description: string;
  example: string;
}

interface Unwrapped {
  schema: z.ZodType;
  doc: Partial<FieldDoc>;
  optional: boolean;
  hasDefault: boolean;
  defaultValue: unknown;
}

type Def = z.core.$ZodTypeDef & Record<string, unknown>;

function defOf(schema: z.ZodType): Def {
  return schema._zod.def as Def;
}

/** Peels optional/default/pipe wrappers, collecting the documentation attached to any layer. */
function unwrap(schema: z.ZodType): Unwrapped {
  const result: Unwrapped = { schema, doc: {}, optional: false, hasDefault: false, defaultValue: undefined };
  let current = schema;
  for (;;) {
    const meta = z.globalRegistry.get(current) as Partial<FieldDoc> | undefined;
    if (meta !== undefined) result.doc = { ...meta, ...result.doc };
    const def = defOf(current);
    if (def.type === 'optional') {
      result.optional = true;
      current = def.innerType as z.ZodType;
    } else if (def.type === 'default') {
      result.hasDefault = true;
      result.defaultValue = def.defaultValue;
      current = def.innerType as z.ZodType;
    } else if (def.type === 'pipe') {
      current = def.out as z.ZodType;
    } else {
      result.schema = current;
      return result;
    }
  }
}

function typeName(schema: z.ZodType): string {
  const def = defOf(schema);
  switch (def.type) {
    case 'string':
      return 'string';
    case 'boolean':
      return 'boolean';
    case 'number':
      return (schema as z.ZodNumber).isInt ? 'integer' : 'number';
    case 'enum':
      return Object.values(def.entries as Record<string, string>).map((value) => JSON.stringify(value)).join(' \\| ');
    case 'literal':
      return (def.values as unknown[]).map((value) => JSON.stringify(value)).join(' \\| ');
    case 'array':
      return `list of ${typeName(unwrap(def.element as z.ZodType).schema)}`;
    case 'object':
      return 'object';
    case 'union':
      return `one of (by \`${String(def.discriminator)}\`)`;
    default:
      return def.type;
  }
}

function formatDefault(field: Unwrapped, required: boolean): string {
  if (field.hasDefault) {
    const value = field.defaultValue;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return 'its fields\' defaults';
    return `\`${JSON.stringify(value)}\``;
  }
  return required ? '**required**' : '(none)';
}

function cell(text: string): string {
  return text.replaceAll('\n', ' ').replaceAll('|', '\\|');
}

function formatExample(doc: Partial<FieldDoc>): string {
  const example = doc.examples?.[0];
  if (example === undefined) return '';
  return `\`${cell(JSON.stringify(example))}\``;
}

/** One row per field, depth first, in schema order; union members are qualified, e.g. source[kind=mqtt].url. */
export function flowFieldRows(): FieldRow[] {
  const rows: FieldRow[] = [];
  walkObject(flowSchema, '', rows);
  return rows;
}

function walkObject(schema: z.ZodType, prefix: string, rows: FieldRow[]): void {
  const shape = (schema as z.ZodObject).shape as Record<string, z.ZodType>;
  for (const [key, child] of Object.entries(shape)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    const field = unwrap(child);
    const required = !field.optional && !field.hasDefault;
    const description = field.doc.description ?? '';
    if (description === '') throw new Error(`flow schema field ${path} has no description`);
    if (field.doc.examples === undefined || field.doc.examples.length === 0) throw new Error(`flow schema field ${path} has no example`);
    rows.push({ path, type: typeName(field.schema), default: formatDefault(field, required), description, example: formatExample(field.doc) });
    walkNested(field.schema, path, rows);
  }
}

function walkNested(schema: z.ZodType, path: string, rows: FieldRow[]): void {
  const def = defOf(schema);
  if (def.type === 'object') walkObject(schema, path, rows);
  else if (def.type === 'array') {
    const element = unwrap(def.element as z.ZodType).schema;
    if (defOf(element).type === 'object') walkObject(element, `${path}[]`, rows);
  } else if (def.type === 'union' && typeof def.discriminator === 'string') {
    for (const option of def.options as z.ZodType[]) {
      const optionShape = (option as z.ZodObject).shape as Record<string, z.ZodType>;
      const tag = unwrap(optionShape[def.discriminator] as z.ZodType).schema;
      const value = (defOf(tag).values as unknown[])[0];
      walkObject(option, `${path}[${def.discriminator}=${String(value)}]`, rows);
    }
  }
}

export function renderFlowDocs(): string {
  const rows = flowFieldRows();
  const lines = [
    '# Flow files',
    '',
    '<!-- Generated from src/flows/schema.ts by scripts/gen-flow-docs.ts (`npm run docs:flows`). Do not edit by hand. -->',
    '',
    'A flow file describes one pipeline: where frames come from (MQTT or OPC UA), how payloads are decoded, which',
    'multi-exit model answers them under which exit policy, and where results go. One flow per YAML file; `edgeke run`',
    'and `edgeke check` take folders (every `*.yaml` / `*.yml` in them) or files. Examples: [`flows/`](../flows).',
    '',
    '```sh',
    'edgeke check flows/        # validate without connecting: one line per flow, or every problem and exit 1',
    '```',
    '',
    '## Rules',
    '',
    '- Unknown fields are errors (a typo never silently falls back to a default). Every flow is validated before',
    '  anything connects; errors name the file, the line, the field path (e.g. `source.qos`) and what was expected.',
    '- Flow names are unique across the files loaded together.',
    '- `${VAR}` in a string is replaced by the environment variable `VAR`; a missing variable is an error naming it.',
    '  `${VAR:-default}` uses `default` when `VAR` is unset or empty; `$${` writes a literal `${`. Values are',
    '  substituted after YAML parsing, so they cannot change the structure of the file. An unquoted value that is',
    '  exactly one reference (`qos: ${QOS}`) is read as the YAML scalar it spells (a number, a boolean); a field whose',
    '  whole value resolves to the empty string is left out (`password: ${MQTT_PASSWORD:-}` means no password).',
    '- Passwords must be written as `${ENV_VAR}` references; error messages never echo values.',
    '- Union fields are selected by their tag: rows `source[kind=mqtt].url` apply when `source.kind` is `mqtt`.',
    '',
    '## Payloads (`decode`)',
    '',
    '| decode | payload | frame id and capture time |',
    '| --- | --- | --- |',
    '| `image` | JPEG or PNG bytes (recognised by their magic bytes), or a JSON envelope `{"id", "ts", "image": "<base64>", "label"?}` (a `data:image/...;base64,` prefix is accepted) | MQTT 5 user properties `id`, `ts`; else the envelope |',
    '| `json-values` | JSON `{"id", "ts", "values": [numbers], "label"?}`, exactly the model\'s window length | user properties, else the envelope |',
    '| `float32` | raw little-endian float32 samples, exactly the model\'s window length | MQTT 5 user properties `id`, `ts` |',
    '| `opcua-samples` | windows the OPC UA source joined from its monitored items | OPC UA source timestamps |',
    '',
    '`ts` is milliseconds since the epoch (number or numeric string) or an ISO 8601 date-time. Without any capture time',
    'the receive time stands in and telemetry says so (`capture_ts_source = receive`). `label` (the true class, from',
    'simulators) is a class index or a class name. Signal windows are normalised as the model manifest says (per-window',
    'z-score). A payload that cannot become a frame is rejected before inference, counted as an `error` outcome with one',
    'of these reasons: `payload-too-large` (checked before parsing, see `limits.maxPayloadBytes`), `wrong-payload-kind`,',
    '`bad-json`, `missing-field`, `bad-field-type`, `bad-base64`, `bad-image`, `image-too-large`, `wrong-shape`,',
    '`non-finite`. An image\'s width and height are read from its header before any decoding: one over',
    '`limits.maxImageSide` or `limits.maxImagePixels` (by default derived from the model input) is `image-too-large`,',
    'so a small file declaring a huge image never allocates its pixels.',
    '',
    '## Fields',
    '',
    '| field | type | default | description | example |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((row) => `| \`${row.path}\` | ${row.type} | ${row.default} | ${cell(row.description)} | ${row.example} |`),
    '',
  ];
  return lines.join('\n');
}

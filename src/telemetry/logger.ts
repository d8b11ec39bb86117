import { pino, stdSerializers, type DestinationStream, type Level, type Logger } from 'pino';

/**
 * Structured logging for people: one JSON line per event, child loggers that carry `flow` and `component`, and no
 * secrets. Credentials are removed three ways, because they reach logs three ways:
 * - keys that name a secret (password, token, secret, authorization, api key, credentials) at any depth of a logged
 *   object or of a child logger's bindings become "[redacted]";
 * - any string that contains a URL with user:password (an MQTT or InfluxDB URL in a message, an error text, a field)
 *   loses the user info;
 * - errors are serialized first (message, stack, cause) and then cleaned like any other object.
 */

export type { Logger } from 'pino';

export const REDACTED = '[redacted]';

/** Key names whose values are never logged. Matched case-insensitively anywhere in the key (`mqttPassword`). */
const SECRET_KEY = /pass(word|wd|phrase)?$|passw(or)?d|token|secret|authorization|api[-_]?key|credential|private[-_]?key|cookie/i;

/**
 * pino's own `redact` paths have a fixed depth (no `**`), so they cover the usual shapes cheaply and the deep walk in
 * the log formatter covers the rest.
 */
const SECRET_KEY_NAMES = ['password', 'passwd', 'token', 'secret', 'authorization', 'apiKey', 'api_key', 'credentials', 'cookie'];
const PINO_REDACT_PATHS = SECRET_KEY_NAMES.flatMap((key) => [key, `*.${key}`, `*.*.${key}`, `*.*.*.${key}`]);

/**
 * scheme://user:password@host → scheme://host. The user info runs up to the last `@` before the first `/ ? #` or
 * white space or quote, so a password with an unescaped `@` is removed whole.
 */
const URL_WITH_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>]*@/gi;

/** Strips user name and password from a URL (or from every URL inside a longer text); everything else is kept. */
export function redactUrl(text: string): string {
  return text.replace(URL_WITH_USERINFO, '$1');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** Errors as plain objects (type, message, stack, code, cause), so the walk below can clean their text. */
function errorToObject(error: Error): Record<string, unknown> {
  return stdSerializers.err(error) as unknown as Record<string, unknown>;
}

const MAX_DEPTH = 12;

/** A cleaned copy of `value`: secret keys censored at any depth, URL credentials stripped from every string. */
export function redactValue(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (typeof value === 'string') return redactUrl(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof URL) return redactUrl(value.href);
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.constructor.name} ${value.byteLength} bytes]`;
  if (value instanceof Date) return value;
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[too deep]';
  seen.add(value);
  try {
    if (value instanceof Error) return redactValue(errorToObject(value), depth, seen);
    if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1, seen));
    if (value instanceof Map) return redactValue(Object.fromEntries(value), depth, seen);
    if (value instanceof Set) return redactValue([...value], depth, seen);
    const cleaned: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      cleaned[key] = isSecretKey(key) && item !== undefined && item !== null ? REDACTED : redactValue(item, depth + 1, seen);
    }
    return cleaned;
  } finally {
    seen.delete(value);
  }
}

function redactRecord(value: Record<string, unknown>): Record<string, unknown> {
  return redactValue(value) as Record<string, unknown>;
}

export interface LoggerOptions {
  /** Default `info`, or `LOG_LEVEL` from the environment when the caller passes it through. */
  level?: Level | 'silent';
  /** Where lines go; default stdout. Tests pass a stream that collects lines. */
  destination?: DestinationStream;
  /** Bound into every line; default `edgeke`. */
  name?: string;
  /** Extra fields bound into every line (host, replica id, ...); cleaned like everything else. */
  base?: Record<string, unknown>;
}

/** The process's root logger. Everything else is a child of it, so redaction applies everywhere. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      name: options.name ?? 'edgeke',
      level: options.level ?? 'info',
      base: options.base === undefined ? undefined : redactRecord(options.base),
      redact: { paths: PINO_REDACT_PATHS, censor: REDACTED },
      // Errors go under `err` through the standard serializer, then get cleaned (their message can hold a URL).
      serializers: { err: (error: unknown) => redactValue(error instanceof Error ? errorToObject(error) : error) },
      formatters: {
        log: redactRecord,
        bindings: redactRecord,
      },
      hooks: {
        // The message and printf-style arguments bypass the formatters; clean them here.
        logMethod(args, method) {
          const [first, ...rest] = args as unknown[];
          const cleaned = typeof first === 'object' && first !== null ? [first, ...rest.map((arg) => redactValue(arg))] : args.map((arg) => redactValue(arg));
          // With no message, pino would copy an error's raw message into `msg`: give it the cleaned one.
          const error = first instanceof Error ? first : isRecord(first) && first.err instanceof Error ? first.err : undefined;
          if (error !== undefined && typeof rest[0] !== 'string') cleaned.splice(1, 0, redactUrl(error.message));
          return method.apply(this, cleaned as Parameters<typeof method>);
        },
      },
    },
    // Synchronous stdout: logs are events, not per-frame data, and a crash must not swallow its last lines.
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
  // pino applies the bindings formatter to the root only; children inherit this wrapper through the prototype chain,
  // so a child's bindings (a flow's source URL, say) are cleaned too.
  const pinoChild = logger.child;
  logger.child = function (this: Logger, bindings: Record<string, unknown>, childOptions?: Parameters<Logger['child']>[1]) {
    return pinoChild.call(this, redactRecord(bindings), childOptions);
  } as Logger['child'];
  return logger;
}

/** A logger whose lines carry `component` (e.g. `influx-sink`, `telemetry-http`). */
export function componentLogger(parent: Logger, component: string): Logger {
  return parent.child({ component });
}

/** A logger whose lines carry `flow` and, when given, `component` (e.g. `source`, `pipeline`). */
export function flowLogger(parent: Logger, flow: string, component?: string): Logger {
  return parent.child(component === undefined ? { flow } : { flow, component });
}

/** Reads LOG_LEVEL; anything unknown falls back to `info` rather than failing the start. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): Level | 'silent' {
  const level = env.LOG_LEVEL?.toLowerCase();
  const known: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
  return level !== undefined && known.includes(level) ? (level as Level | 'silent') : 'info';
}

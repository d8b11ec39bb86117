/**
 * Syntax checks for identifiers that zod cannot express as a plain type: MQTT topic filters and names, OPC UA node
 * ids. Each returns a reason (without echoing the value, which may come from an env variable) or undefined when valid.
 */

const MAX_TOPIC_BYTES = 65_535;

/** MQTT 5 §4.7: `#` only as the whole last level, `+` only as a whole level, no NUL, 1..65535 UTF-8 bytes. */
export function topicFilterProblem(filter: string): string | undefined {
  const common = topicCommonProblem(filter);
  if (common !== undefined) return common;
  const levels = filter.split('/');
  for (const [index, level] of levels.entries()) {
    if (level.includes('#') && (level !== '#' || index !== levels.length - 1)) {
      return "'#' must be a whole topic level and the last one (e.g. 'plant/+/camera/#')";
    }
    if (level.includes('+') && level !== '+') return "'+' must be a whole topic level (e.g. 'plant/+/camera')";
  }
  if (filter.startsWith('$share/')) return "use source.sharedGroup instead of writing '$share/<group>/' into the topic";
  return undefined;
}

/** A topic to publish to: like a filter, but wildcards are not allowed at all. */
export function topicNameProblem(topic: string): string | undefined {
  const common = topicCommonProblem(topic);
  if (common !== undefined) return common;
  if (topic.includes('+') || topic.includes('#')) return "a topic to publish to cannot contain the wildcards '+' or '#'";
  return undefined;
}

function topicCommonProblem(topic: string): string | undefined {
  if (topic.length === 0) return 'a topic cannot be empty';
  if (topic.includes('\u0000')) return 'a topic cannot contain the NUL character';
  if (Buffer.byteLength(topic, 'utf8') > MAX_TOPIC_BYTES) return `a topic is at most ${MAX_TOPIC_BYTES} bytes`;
  return undefined;
}

/** A shared subscription group name is one topic level without wildcards. */
export function sharedGroupProblem(group: string): string | undefined {
  if (group.length === 0) return 'a shared group name cannot be empty';
  if (/[/+#]/.test(group) || group.includes('\u0000')) return "a shared group name cannot contain '/', '+', '#' or NUL";
  return undefined;
}

const UINT32_MAX = 4_294_967_295;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * OPC UA node id in its string form (Part 6 §5.3.1.10): optional `ns=<index>;` or `nsu=<uri>;`, then `i=<uint32>`,
 * `s=<string>`, `g=<guid>` or `b=<base64>`.
 */
export function nodeIdProblem(nodeId: string): string | undefined {
  const expected = "expected 'ns=<n>;i=<number>', 'ns=<n>;s=<name>', 'ns=<n>;g=<guid>' or 'ns=<n>;b=<base64>'";
  let rest = nodeId;
  const namespace = /^(ns=(\d+)|nsu=[^;]+);/.exec(rest);
  if (namespace !== null) {
    const index = namespace[2];
    if (index !== undefined && Number(index) > 65_535) return 'the namespace index is at most 65535';
    rest = rest.slice(namespace[0].length);
  }
  const identifier = /^([isgb])=([\s\S]*)$/.exec(rest);
  if (identifier === null) return expected;
  const [, kind, value = ''] = identifier;
  switch (kind) {
    case 'i':
      if (!/^\d+$/.test(value) || Number(value) > UINT32_MAX) return 'a numeric identifier (i=) is an integer 0..4294967295';
      return undefined;
    case 's':
      if (value.length === 0) return 'a string identifier (s=) cannot be empty';
      return undefined;
    case 'g':
      if (!GUID.test(value)) return 'a GUID identifier (g=) looks like 72962b91-fa75-4ae6-8d28-b404dc7daf63';
      return undefined;
    default:
      if (value.length === 0 || !BASE64.test(value)) return 'an opaque identifier (b=) is non-empty base64';
      return undefined;
  }
}

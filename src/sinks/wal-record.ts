import { crc32 } from 'node:zlib';

/**
 * One write-ahead log record per line: `<crc32, 8 hex digits> <key> <line protocol>\n`. The checksum covers
 * everything after its space, so a record torn by a crash (short, or with bytes of a later write) is recognised and
 * skipped. `key` is the frame's deduplication key, percent-encoded (no spaces, no newlines), or `%` for none
 * (flow_stats points). A line with a line break (inside a string field) is stored JSON-quoted.
 */
export interface WalRecord {
  key: string | undefined;
  line: string;
}

const NO_KEY = '%';

export function encodeRecord(record: WalRecord): string {
  // A string field may hold a line break; such a line is stored JSON-quoted (a point line never starts with `"`).
  const line = /[\n\r]/.test(record.line) ? JSON.stringify(record.line) : record.line;
  const body = `${record.key === undefined ? NO_KEY : encodeURIComponent(record.key)} ${line}`;
  return `${crc32(body).toString(16).padStart(8, '0')} ${body}\n`;
}

export interface ParsedSegment {
  records: WalRecord[];
  /** Complete lines whose checksum did not match (damaged after they were written: counted, reported). */
  corrupt: number;
  /** A last line without its newline: a write cut short by a crash, never acknowledged. */
  torn: boolean;
}

/** Parses a segment file's text; at most `limit` valid records are returned. */
export function parseSegment(text: string, limit = Infinity): ParsedSegment {
  const records: WalRecord[] = [];
  let corrupt = 0;
  let start = 0;
  while (start < text.length && records.length < limit) {
    const end = text.indexOf('\n', start);
    if (end === -1) return { records, corrupt, torn: true };
    const record = decodeRecord(text.slice(start, end));
    if (record === undefined) corrupt += 1;
    else records.push(record);
    start = end + 1;
  }
  return { records, corrupt, torn: false };
}

function decodeRecord(text: string): WalRecord | undefined {
  if (text.length < 11 || text[8] !== ' ') return undefined;
  const body = text.slice(9);
  const expected = Number.parseInt(text.slice(0, 8), 16);
  if (!/^[0-9a-f]{8}$/.test(text.slice(0, 8)) || crc32(body) !== expected) return undefined;
  const space = body.indexOf(' ');
  if (space <= 0) return undefined;
  const rawKey = body.slice(0, space);
  try {
    const line = body.slice(space + 1);
    return { key: rawKey === NO_KEY ? undefined : decodeURIComponent(rawKey), line: line.startsWith('"') ? (JSON.parse(line) as string) : line };
  } catch {
    return undefined;
  }
}

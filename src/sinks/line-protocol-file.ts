import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { InfluxClient } from './influx-client.ts';

/**
 * An InfluxClient that appends to a file `influx -import -path=FILE -precision=ns` can load later: the demo's
 * telemetry when no InfluxDB is reachable. The header creates the database and makes the retention policy its default.
 */
export function lineProtocolFileClient(file: string): InfluxClient {
  let header: Promise<void> | undefined;
  return {
    ensureTarget(target) {
      header ??= (async () => {
        await mkdir(dirname(file), { recursive: true });
        const ddl = `# DDL\nCREATE DATABASE ${target.database}\nCREATE RETENTION POLICY ${target.retentionPolicy.name} ON ${target.database} DURATION ${target.retentionPolicy.duration} REPLICATION 1 DEFAULT\n`;
        await writeFile(file, `${ddl}# DML\n# CONTEXT-DATABASE: ${target.database}\n# CONTEXT-RETENTION-POLICY: ${target.retentionPolicy.name}\n`);
      })();
      return header;
    },
    async writeLines(lines) {
      await header;
      // `influx -import` reads one point per line: a line break inside a string field is written as \n.
      await appendFile(file, lines.map((line) => `${line.replace(/\n/g, '\\n')}\n`).join(''));
    },
  };
}

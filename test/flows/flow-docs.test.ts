import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { flowFieldRows, renderFlowDocs } from '../../src/flows/flow-docs.ts';

describe('docs/flows.md', () => {
  it('is up to date with the flow schema (run `npm run docs:flows` after changing src/flows/schema.ts)', () => {
    const committed = readFileSync(new URL('../../docs/flows.md', import.meta.url), 'utf8');
    expect(committed === renderFlowDocs(), 'docs/flows.md is stale: run `npm run docs:flows`').toBe(true);
  });

  it('documents every field with a type, a default (or required) and an example', () => {
    const rows = flowFieldRows();
    const paths = rows.map((row) => row.path);
    for (const path of ['name', 'source[kind=mqtt].topic', 'source[kind=opcua].window[by=time].ms', 'policy.confidenceStop', 'sinks.influx.spillMaxBytes', 'limits.queueCapacity']) {
      expect(paths).toContain(path);
    }
    for (const row of rows) {
      expect(row.description, row.path).not.toBe('');
      expect(row.example, row.path).not.toBe('');
      expect(row.default, row.path).not.toBe('');
    }
  });
});

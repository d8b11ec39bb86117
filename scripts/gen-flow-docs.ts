// Writes docs/flows.md from the flow schema (src/flows/schema.ts). Run with `npm run docs:flows`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderFlowDocs } from '../src/flows/flow-docs.ts';

const target = fileURLToPath(new URL('../docs/flows.md', import.meta.url));
writeFileSync(target, renderFlowDocs());
console.log(`wrote ${target}`);

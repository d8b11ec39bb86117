// Writes docs/errors.md from the error-code catalogue (src/errors-catalogue.ts). Run with `npm run docs:errors`.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { renderErrorDocs } from '../src/errors-catalogue.ts';

const target = fileURLToPath(new URL('../docs/errors.md', import.meta.url));
writeFileSync(target, renderErrorDocs());
console.log(`wrote ${target}`);

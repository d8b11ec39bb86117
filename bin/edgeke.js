#!/usr/bin/env node
// The `edgeke` command. Runs the TypeScript sources through tsx, so a fresh clone needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/edgeke.ts');
const code = await main(process.argv.slice(2));
// Exit now, not when the last handle closes: after a forced shutdown (second signal, expired drain deadline) a
// connection may still be retrying, and the process must end with the code it decided on.
process.exit(code);

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const SRC_DIR = join(import.meta.dirname, '../../src');

/** Every .ts file under src/, as paths relative to src/ with forward slashes, and its text. */
export function srcFiles(): { path: string; text: string }[] {
  const files: { path: string; text: string }[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts')) files.push({ path: relative(SRC_DIR, full).split('\\').join('/'), text: readFileSync(full, 'utf8') });
    }
  };
  walk(SRC_DIR);
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

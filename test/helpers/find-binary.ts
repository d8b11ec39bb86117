import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Daemons from Debian live in /usr/sbin, which is not on every user's PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/**
 * Finds an executable on PATH (plus the sbin folders). Throws one line naming the Debian package to install,
 * so a missing service fails the suite at once instead of skipping tests.
 */
export function findBinary(name: string, debianPackage: string): string {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS].filter((dir) => dir !== '');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  throw new Error(`${name} not found: install it with \`apt-get install -y ${debianPackage}\` (or run .ci/run as root)`);
}

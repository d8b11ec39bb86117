import { open, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Log folders this process holds (two flows of one process must not share one either). */
const held = new Set<string>();

/**
 * One process per log folder: two writers would interleave segments. The lock is a `LOCK` file holding the owner's
 * pid; one left by a process that is gone (kill -9) is taken over.
 */
export async function takeLock(dir: string): Promise<void> {
  const key = resolve(dir);
  if (held.has(key)) throw Object.assign(new Error('the write-ahead log folder is in use by another flow of this process'), { code: 'ELOCKED' });
  const file = join(dir, 'LOCK');
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      await writeFile(file, String(process.pid), { flag: 'wx' });
      held.add(key);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (!isAlive(owner) || owner === process.pid) {
      await rm(file, { force: true });
      continue;
    }
    throw Object.assign(new Error(`the write-ahead log folder is in use by process ${owner}`), { code: 'ELOCKED' });
  }
}

function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A new file's name is durable only once its folder is fsync'd. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export async function releaseLock(dir: string): Promise<void> {
  held.delete(resolve(dir));
  await rm(join(dir, 'LOCK'), { force: true }).catch(() => undefined);
}

import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { InfluxPoint } from './influx-point.ts';

/**
 * Points that did not fit in memory during a long InfluxDB outage, on disk: one append-only segment file per batch
 * (written whole to a temporary name, then renamed, so a crash never leaves half a segment), replayed oldest first,
 * deleted once written. Bounded by `maxBytes`: past it the oldest segments are dropped, and counted. Segments left
 * by a previous run are picked up on open, so points survive a restart.
 */
export interface SpillSegment {
  sequence: number;
  points: number;
  bytes: number;
  file: string;
}

const SEGMENT_NAME = /^segment-(\d{12})-(\d+)\.jsonl$/;

export class SpillStore {
  private segments: SpillSegment[] = [];
  private nextSequence = 0;
  private totalBytes = 0;
  private totalPoints = 0;

  private constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
  ) {}

  static async open(dir: string, maxBytes: number): Promise<SpillStore> {
    const store = new SpillStore(dir, maxBytes);
    await mkdir(dir, { recursive: true });
    const names = (await readdir(dir)).sort();
    for (const name of names) {
      const match = SEGMENT_NAME.exec(name);
      if (match === null) {
        if (name.endsWith('.tmp')) await rm(join(dir, name), { force: true });
        continue;
      }
      const file = join(dir, name);
      const bytes = (await stat(file)).size;
      store.segments.push({ sequence: Number(match[1]), points: Number(match[2]), bytes, file });
      store.totalBytes += bytes;
      store.totalPoints += Number(match[2]);
    }
    store.nextSequence = (store.segments.at(-1)?.sequence ?? -1) + 1;
    return store;
  }

  get pointCount(): number {
    return this.totalPoints;
  }

  get byteCount(): number {
    return this.totalBytes;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  /** Appends one segment; returns how many (older) points were dropped to stay under maxBytes. */
  async append(points: readonly InfluxPoint[]): Promise<number> {
    if (points.length === 0) return 0;
    const text = points.map((point) => JSON.stringify(point)).join('\n') + '\n';
    const bytes = Buffer.byteLength(text, 'utf8');
    let dropped = 0;
    while (this.segments.length > 0 && this.totalBytes + bytes > this.maxBytes) dropped += await this.dropOldest();
    if (bytes > this.maxBytes) return dropped + points.length;
    const sequence = this.nextSequence++;
    const file = join(this.dir, `segment-${String(sequence).padStart(12, '0')}-${points.length}.jsonl`);
    // Synced before the rename: a segment that exists is complete, even after a power cut.
    const handle = await open(`${file}.tmp`, 'w');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(`${file}.tmp`, file);
    this.segments.push({ sequence, points: points.length, bytes, file });
    this.totalBytes += bytes;
    this.totalPoints += points.length;
    return dropped;
  }

  /** The oldest segment, without removing it (remove it once its points are written). */
  oldest(): SpillSegment | undefined {
    return this.segments[0];
  }

  async read(segment: SpillSegment): Promise<InfluxPoint[]> {
    const text = await readFile(segment.file, 'utf8');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as InfluxPoint);
  }

  /** Deletes a segment after its points were written (or refused by InfluxDB). */
  async remove(segment: SpillSegment): Promise<void> {
    const index = this.segments.indexOf(segment);
    if (index === -1) return;
    this.segments.splice(index, 1);
    this.totalBytes -= segment.bytes;
    this.totalPoints -= segment.points;
    await rm(segment.file, { force: true });
  }

  private async dropOldest(): Promise<number> {
    const oldest = this.segments[0];
    if (oldest === undefined) return 0;
    await this.remove(oldest);
    return oldest.points;
  }
}

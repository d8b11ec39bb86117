import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../errors.ts';

/** One CWRU test segment: 12 kHz drive-end acceleration (g) of one bearing condition. */
export interface VibrationRecording {
  file: string;
  className: string;
  /** Index into the test split's `classes` list. */
  label: number;
  samples: Float32Array;
}

export interface CwruTestSplit {
  classes: string[];
  sampleRateHz: number;
  recordings: VibrationRecording[];
}

interface IndexSegment {
  file: string;
  class: string;
  label: number;
  sample_rate_hz?: number;
}

/**
 * Reads the CWRU test split written by training (`data/cwru-bearing/test`: index.json with `classes` and
 * `segments[{file, class, label, sample_rate_hz}]` plus raw little-endian float32 files).
 */
export async function loadCwruTestSplit(folder: string): Promise<CwruTestSplit> {
  let index: { classes?: unknown; segments?: unknown };
  try {
    index = JSON.parse(await readFile(join(folder, 'index.json'), 'utf8')) as typeof index;
  } catch (error) {
    throw new ConfigError(`CWRU test split ${folder}/index.json cannot be read`, { cause: error });
  }
  if (!Array.isArray(index.classes) || !Array.isArray(index.segments)) {
    throw new ConfigError(`CWRU test split ${folder}/index.json has no classes or segments list`);
  }
  const segments = index.segments as IndexSegment[];
  const recordings = await Promise.all(
    segments.map(async (segment) => {
      const bytes = await readFile(join(folder, segment.file));
      // Copy into an aligned buffer: a Buffer's offset in Node's pool need not be a multiple of 4.
      const samples = new Float32Array(bytes.byteLength / 4);
      new Uint8Array(samples.buffer).set(bytes.subarray(0, samples.length * 4));
      return { file: segment.file, className: segment.class, label: segment.label, samples };
    }),
  );
  return {
    classes: index.classes as string[],
    sampleRateHz: segments[0]?.sample_rate_hz ?? 12_000,
    recordings,
  };
}

/** Interleaves recordings so consecutive ones are of different classes (class 0, 1, 2, ..., then again). */
export function interleaveByClass(recordings: VibrationRecording[]): VibrationRecording[] {
  const byLabel = new Map<number, VibrationRecording[]>();
  for (const recording of recordings) byLabel.set(recording.label, [...(byLabel.get(recording.label) ?? []), recording]);
  const labels = [...byLabel.keys()].sort((a, b) => a - b);
  const rounds = Math.max(0, ...[...byLabel.values()].map((list) => list.length));
  const order: VibrationRecording[] = [];
  for (let round = 0; round < rounds; round += 1) {
    for (const label of labels) {
      const recording = byLabel.get(label)?.[round];
      if (recording !== undefined) order.push(recording);
    }
  }
  return order;
}

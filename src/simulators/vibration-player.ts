import type { VibrationRecording } from './cwru-recordings.ts';

/** One block of a live vibration signal, and the condition it was recorded under. */
export interface VibrationBlock {
  values: Float32Array;
  label: number;
  className: string;
  /** Index of the block since the player started (block k starts at sample k * blockSize). */
  index: number;
}

export interface VibrationPlayerOptions {
  /** Played in this order, cycling. */
  recordings: VibrationRecording[];
  blockSize: number;
  /**
   * Samples played from each recording before switching to the next; default: the whole recording once. A longer
   * hold loops inside the recording. Switches happen at block boundaries.
   */
  holdSamples?: number;
}

/** Plays recordings as an endless signal cut into fixed blocks, switching recordings (classes) every few seconds. */
export class VibrationPlayer {
  private recordingIndex = 0;
  private position = 0;
  private playedOfRecording = 0;
  private blockIndex = 0;

  constructor(private readonly options: VibrationPlayerOptions) {
    if (options.recordings.length === 0) throw new RangeError('vibration player needs at least one recording');
    if (options.recordings.some((recording) => recording.samples.length === 0)) throw new RangeError('empty recording');
    if (!Number.isInteger(options.blockSize) || options.blockSize < 1) throw new RangeError('blockSize must be a positive integer');
  }

  /** The recording the next block comes from (the "true class" right now). */
  get current(): VibrationRecording {
    return this.options.recordings[this.recordingIndex] as VibrationRecording;
  }

  nextBlock(): VibrationBlock {
    const hold = this.options.holdSamples ?? this.current.samples.length;
    if (this.playedOfRecording >= hold) {
      this.recordingIndex = (this.recordingIndex + 1) % this.options.recordings.length;
      this.position = 0;
      this.playedOfRecording = 0;
    }
    const recording = this.current;
    const values = new Float32Array(this.options.blockSize);
    for (let i = 0; i < values.length; i += 1) {
      values[i] = recording.samples[this.position] ?? 0;
      this.position = (this.position + 1) % recording.samples.length;
    }
    this.playedOfRecording += values.length;
    return { values, label: recording.label, className: recording.className, index: this.blockIndex++ };
  }
}

import type { VibrationRecording } from './cwru-recordings.ts';
import { startMqttReplayPublisher, type ReplayFrame, type ReplayTransportOptions, type RunningReplayPublisher } from './mqtt-replay-publisher.ts';
import { VibrationPlayer } from './vibration-player.ts';

/** `json` = `{"id","ts","values":[...],"label"}`; `binary` = raw little-endian float32 + MQTT 5 user properties. */
export type VibrationPayloadFormat = 'json' | 'binary';

export interface VibrationMqttSimulatorOptions extends ReplayTransportOptions {
  /** Played in order, cycling (see loadCwruTestSplit and interleaveByClass). */
  recordings: VibrationRecording[];
  /** Samples per published window (the model's input length, e.g. 2048). */
  windowLength: number;
  /** Samples played from each recording before switching (default: each recording once through). */
  holdSamples?: number;
  /** Windows per second; default real time (sampleRateHz / windowLength). */
  ratePerSecond?: number;
  sampleRateHz?: number;
  format?: VibrationPayloadFormat;
  idPrefix?: string;
}

export interface VibrationEnvelope {
  id: string;
  ts: number;
  values: number[];
  label: number;
}

/** Encodes one window. Pure. */
export function vibrationFrame(values: Float32Array, label: number, id: string, ts: number, format: VibrationPayloadFormat): ReplayFrame {
  if (format === 'binary') {
    const bytes = Buffer.alloc(values.length * 4);
    for (let i = 0; i < values.length; i += 1) bytes.writeFloatLE(values[i] ?? 0, i * 4);
    return { payload: bytes, userProperties: { id, ts: String(ts), label: String(label) } };
  }
  const envelope: VibrationEnvelope = { id, ts, values: Array.from(values), label };
  return { payload: JSON.stringify(envelope) };
}

/** A vibration sensor publishing CWRU windows over MQTT, cycling through fault classes. */
export async function startVibrationMqttSimulator(options: VibrationMqttSimulatorOptions): Promise<RunningReplayPublisher> {
  const player = new VibrationPlayer({ recordings: options.recordings, blockSize: options.windowLength, holdSamples: options.holdSamples });
  const format = options.format ?? (options.protocolVersion === 4 ? 'json' : 'binary');
  if (format === 'binary' && options.protocolVersion === 4) {
    throw new RangeError('binary vibration frames carry id and ts as MQTT 5 user properties: use format json with MQTT 3.1.1');
  }
  const ratePerSecond = options.ratePerSecond ?? (options.sampleRateHz ?? 12_000) / options.windowLength;
  return startMqttReplayPublisher(
    { ...options, ratePerSecond },
    (seq, now) => {
      const block = player.nextBlock();
      return vibrationFrame(block.values, block.label, `${options.idPrefix ?? 'vib'}-${seq}`, now, format);
    },
  );
}

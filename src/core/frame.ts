/**
 * The records that travel through a flow (see docs/DESIGN: the data path). Sources emit RawMessages, decoders turn
 * them into Frames, the pipeline turns every Frame (or undecodable message) into exactly one FrameResult.
 */

/** What a source delivers: bytes (MQTT payloads) or samples already joined into a window (OPC UA). */
export type RawPayload =
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'samples'; values: Float32Array };

export interface RawMessage {
  flow: string;
  /** MQTT topic or OPC UA node id the message came from. */
  origin: string;
  payload: RawPayload;
  /** When EdgeKE received it (ms since epoch). */
  receivedTs: number;
  /** Frame id and device capture time when the transport carries them (MQTT 5 user properties, OPC UA timestamps). */
  id?: string;
  captureTs?: number;
  /**
   * Settles the message with its transport: for MQTT QoS 1 this sends the PUBACK. The pipeline calls it exactly once,
   * after the frame's result is in the sink buffer (or the message was rejected and counted).
   */
  ack: () => void;
}

export interface Frame {
  flow: string;
  id: string;
  /** Device capture time (ms since epoch); latency and deadlines count from here. */
  captureTs: number;
  /**
   * 'receive' when the receive time stands in for the capture time: the device sent none, or sent one later than the
   * receive time beyond the tolerance (its clock is ahead; src/pipeline/device-clocks.ts).
   */
  captureTsSource: CaptureTsSource;
  receivedTs: number;
  /** The sending device's clock skew estimate (ms, positive = ahead of ours) when it stamps its frames. */
  deviceClockSkewMs?: number;
  /** The device that estimate belongs to (src/pipeline/device-clocks.ts: topic or id prefix, or `other`). */
  device?: string;
  /** Preprocessed model input, row-major, shape = the model manifest's input shape (no batch dimension). */
  tensor: Float32Array;
  /** True class index when the device knows it (simulators replaying labelled data). */
  label?: number;
  ack: () => void;
}

export type CaptureTsSource = 'device' | 'receive';

/** Every frame ends in exactly one outcome. */
export type Outcome = 'ok' | 'late' | 'shed' | 'error';

export interface FrameResult {
  flow: string;
  id: string;
  captureTs: number;
  captureTsSource: CaptureTsSource;
  /** The device's clock skew estimate (ms, positive = ahead of ours) when the frame was settled. */
  deviceClockSkewMs?: number;
  /** The device `deviceClockSkewMs` belongs to, by the flow's `clocks.deviceKey` (topic or id prefix, or `other`). */
  device?: string;
  model: string;
  /**
   * Version of the model that handled the frame: the first 12 hex digits of the sha256 of its folder (manifest.json
   * and stage files). Every result of the service carries it; it changes when a model is swapped.
   */
  modelVersion?: string;
  engine: string;
  outcome: Outcome;
  /** Why a frame was shed or failed (stable, machine-readable, e.g. 'no-slack', 'bad-jpeg'). */
  reason?: string;
  /** 1-based exit that answered; absent for shed and error. */
  exit?: number;
  classIndex?: number;
  className?: string;
  confidence?: number;
  label?: number;
  queueMs: number;
  inferMs: number;
  /** Capture (as trusted, src/pipeline/device-clocks.ts) to result; never negative. */
  e2eMs: number;
  deadlineMs: number;
  deadlineMet: boolean;
  /** Version of the flow config that handled the frame (changes on hot reload). */
  configVersion: number;
}

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
  /** 'receive' when the device sent no capture time and the receive time stands in for it. */
  captureTsSource: 'device' | 'receive';
  receivedTs: number;
  /** Preprocessed model input, row-major, shape = the model manifest's input shape (no batch dimension). */
  tensor: Float32Array;
  /** True class index when the device knows it (simulators replaying labelled data). */
  label?: number;
  ack: () => void;
}

/** Every frame ends in exactly one outcome. */
export type Outcome = 'ok' | 'late' | 'shed' | 'error';

export interface FrameResult {
  flow: string;
  id: string;
  captureTs: number;
  captureTsSource: 'device' | 'receive';
  model: string;
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
  e2eMs: number;
  deadlineMs: number;
  deadlineMet: boolean;
  /** Version of the flow config that handled the frame (changes on hot reload). */
  configVersion: number;
}

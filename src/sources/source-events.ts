/**
 * What a source reports besides its messages: connection state (readiness and metrics) and messages it settled
 * itself without emitting them (so the pipeline can count them: nothing disappears without a count).
 */

/** `connecting` before the first connection; `reconnecting` while retrying after a loss; `closed` after unsubscribe. */
export type SourceConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface SourceStateChange {
  state: SourceConnectionState;
  /** One line for people: why the state changed (never a secret or payload). */
  reason?: string;
}

/** A message or sample the source dropped on purpose, e.g. an oversize MQTT payload or a bad-quality OPC UA sample. */
export interface SourceRejection {
  /** Stable, machine-readable: 'oversize', 'bad-status', 'node-unavailable'. */
  reason: string;
  /** Topic or node id. */
  origin: string;
  /** How many messages or samples this report covers. */
  count: number;
  /** Payload size for 'oversize'. */
  bytes?: number;
}

export interface SourceEvents {
  onStateChange?: (change: SourceStateChange) => void;
  onRejected?: (rejection: SourceRejection) => void;
}

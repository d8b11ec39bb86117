import type { Frame, RawMessage } from '../core/frame.ts';

/** What a payload may say about itself (JSON envelopes); transport metadata wins over it. */
export interface PayloadMetadata {
  id?: string;
  captureTs?: number;
  label?: number;
}

/**
 * Builds the Frame around a decoded tensor. Capture time: transport metadata (MQTT 5 user property, OPC UA source
 * timestamp), else the envelope's `ts`, else the receive time, flagged 'receive' so telemetry can tell.
 */
export function buildFrame(message: RawMessage, tensor: Float32Array, metadata: PayloadMetadata, newId: () => string): Frame {
  const captureTs = message.captureTs ?? metadata.captureTs;
  const frame: Frame = {
    flow: message.flow,
    id: message.id ?? metadata.id ?? newId(),
    captureTs: captureTs ?? message.receivedTs,
    captureTsSource: captureTs === undefined ? 'receive' : 'device',
    receivedTs: message.receivedTs,
    tensor,
    ack: message.ack,
  };
  if (metadata.label !== undefined) frame.label = metadata.label;
  return frame;
}

/** Ids for frames whose device sent none: flow-unique, readable, and sortable by arrival. */
export function sequentialIds(prefix: string): () => string {
  let next = 0;
  return () => `${prefix}-${(next++).toString(36)}`;
}

import type { Frame, FrameResult, RawMessage } from '../../core/frame.ts';

/**
 * What travels down a flow's pipeline: a message still to decode, a frame waiting for the model, or a message whose
 * result is known (answered, shed or rejected) on its way to the sinks and its acknowledgement. Each operator acts on
 * its own kind and passes the others on, so a frame settled early skips the work it no longer needs.
 */
export type FlowItem = MessageItem | FrameItem | SettledItem;

export interface MessageItem {
  kind: 'message';
  message: RawMessage;
}

export interface FrameItem {
  kind: 'frame';
  frame: Frame;
}

export interface SettledItem {
  kind: 'settled';
  result: FrameResult;
  /** Acknowledges the message to its transport; called once the result is stored. */
  ack: () => void;
}

/** A settled item after the sinks: `stored` is false when a sink refused it (then the message stays unacknowledged). */
export interface StoredItem extends SettledItem {
  stored: boolean;
  error?: unknown;
}

import type { FrameResult, RawMessage } from '../../../src/core/frame.ts';
import type { SettledItem } from '../../../src/pipeline/operators/flow-item.ts';

/** A message whose id is its marble letter; captured at `captureTs` (virtual ms). */
export function messageFor(id: string, captureTs = 0): RawMessage {
  return { flow: 'f', origin: 't', id, captureTs, payload: { kind: 'bytes', bytes: Buffer.from(id) }, receivedTs: captureTs, ack: () => undefined };
}

export function resultFor(id: string, outcome: FrameResult['outcome'], reason?: string): FrameResult {
  return {
    flow: 'f',
    id,
    captureTs: 0,
    captureTsSource: 'device',
    model: 'm',
    engine: 'onnx',
    outcome,
    ...(reason === undefined ? {} : { reason }),
    queueMs: 0,
    inferMs: 0,
    e2eMs: 0,
    deadlineMs: 50,
    deadlineMet: outcome === 'ok',
    configVersion: 1,
  };
}

export function settledFor(id: string, outcome: FrameResult['outcome'], reason?: string, ack: () => void = () => undefined): SettledItem {
  return { kind: 'settled', result: resultFor(id, outcome, reason), ack };
}

/** An item reduced to what a marble compares: its kind, id and outcome. */
export function label(item: { kind: string; message?: RawMessage; frame?: { id: string }; result?: FrameResult }): string {
  if (item.kind === 'message') return `msg:${item.message?.id}`;
  if (item.kind === 'frame') return `frame:${item.frame?.id}`;
  return `${item.result?.outcome}${item.result?.reason === undefined ? '' : `/${item.result.reason}`}:${item.result?.id}`;
}

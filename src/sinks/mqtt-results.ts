import type { Logger } from 'pino';
import { Subject, type Observable } from 'rxjs';
import type { FrameResult } from '../core/frame.ts';
import type { ResultsMqttClient } from './mqtt-results-client.ts';

/** Why a result was not published. Counted; the InfluxDB sink stays the record of every frame. */
export type PublishDropReason = 'queue-full' | 'publish-failed' | 'closed';

/** The JSON published per frame (docs/telemetry.md, results message). Every key is snake_case. */
export interface ResultMessage {
  flow: string;
  id: string;
  /** Capture time, ms since epoch. */
  capture_ts: number;
  capture_ts_source: 'device' | 'receive';
  outcome: FrameResult['outcome'];
  reason?: string;
  exit?: number;
  class?: string;
  class_index?: number;
  label?: number;
  label_name?: string;
  confidence?: number;
  queue_ms: number;
  infer_ms: number;
  e2e_ms: number;
  deadline_ms: number;
  deadline_met: boolean;
  config_version: number;
  /** The model's version (content hash of its folder); changes when the model is swapped. */
  model_version?: string;
}

/** The JSON published per frame. `classes` (the model's class names) turns a known label into its name. */
export function resultMessage(result: FrameResult, classes?: readonly string[]): ResultMessage {
  const message: ResultMessage = {
    flow: result.flow,
    id: result.id,
    capture_ts: result.captureTs,
    capture_ts_source: result.captureTsSource,
    outcome: result.outcome,
    queue_ms: result.queueMs,
    infer_ms: result.inferMs,
    e2e_ms: result.e2eMs,
    deadline_ms: result.deadlineMs,
    deadline_met: result.deadlineMet,
    config_version: result.configVersion,
  };
  if (result.modelVersion !== undefined) message.model_version = result.modelVersion;
  if (result.reason !== undefined) message.reason = result.reason;
  if (result.exit !== undefined) message.exit = result.exit;
  if (result.className !== undefined) message.class = result.className;
  if (result.classIndex !== undefined) message.class_index = result.classIndex;
  if (result.confidence !== undefined) message.confidence = result.confidence;
  if (result.label !== undefined) {
    message.label = result.label;
    const name = classes?.[result.label];
    if (name !== undefined) message.label_name = name;
  }
  return message;
}

export interface MqttResultsPublisherOptions {
  flow: string;
  topic: string;
  qos: 0 | 1;
  client: ResultsMqttClient;
  logger: Logger;
  classes?: readonly string[];
  /** Results waiting for the broker; past it new results are dropped (and counted) rather than piling up. */
  maxPending?: number;
}

/**
 * Publishes one JSON result per frame on the flow's results topic. Never blocks the pipeline and never rejects:
 * while the broker is away results queue up to `maxPending`, then are dropped with a count (drops$).
 */
export class MqttResultsPublisher {
  readonly drops$: Observable<{ reason: PublishDropReason; id: string }>;
  private readonly drops = new Subject<{ reason: PublishDropReason; id: string }>();
  private readonly inFlight = new Set<Promise<void>>();
  private publishedCount = 0;
  private droppedCount = 0;
  private failing = false;
  private queueFull = false;
  private closed = false;

  constructor(private readonly options: MqttResultsPublisherOptions) {
    this.drops$ = this.drops.asObservable();
  }

  get pending(): number {
    return this.inFlight.size;
  }

  get published(): number {
    return this.publishedCount;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  /** Resolves once the broker has the result, or once it was dropped (counted). */
  publish(result: FrameResult): Promise<void> {
    if (this.closed) return Promise.resolve(this.drop('closed', result.id));
    if (this.inFlight.size >= (this.options.maxPending ?? 10_000)) {
      if (!this.queueFull) {
        this.queueFull = true;
        this.options.logger.warn({ flow: this.options.flow, pending: this.inFlight.size }, 'mqtt results: too many results waiting for the broker, new ones are being dropped');
      }
      return Promise.resolve(this.drop('queue-full', result.id));
    }
    if (this.queueFull) {
      this.queueFull = false;
      this.options.logger.info({ flow: this.options.flow, dropped: this.droppedCount }, 'mqtt results: queue has room again');
    }
    const payload = Buffer.from(JSON.stringify(resultMessage(result, this.options.classes)));
    const delivery = this.options.client.publish(this.options.topic, payload, this.options.qos).then(
      () => {
        this.publishedCount += 1;
        if (this.failing) {
          this.failing = false;
          this.options.logger.info({ flow: this.options.flow }, 'mqtt results: publishing again');
        }
      },
      (error: unknown) => {
        if (!this.failing) {
          this.failing = true;
          this.options.logger.warn({ flow: this.options.flow, err: (error as Error).message }, 'mqtt results: publish failed, results are being dropped');
        }
        this.drop('publish-failed', result.id);
      },
    );
    this.inFlight.add(delivery);
    void delivery.finally(() => this.inFlight.delete(delivery));
    return delivery;
  }

  /** Waits up to `timeoutMs` for results in flight, then disconnects. */
  async close(timeoutMs = 5_000): Promise<void> {
    this.closed = true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    await this.options.client.end();
    this.drops.complete();
  }

  private drop(reason: PublishDropReason, id: string): void {
    this.droppedCount += 1;
    this.drops.next({ reason, id });
  }
}

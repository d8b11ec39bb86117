import type { Logger } from 'pino';
import type { Observable, Subscription } from 'rxjs';
import type { ExitPolicy } from '../control/index.ts';
import type { Frame, FrameResult, RawMessage } from '../core/frame.ts';
import type { Decoder } from '../decode/decoder.ts';
import type { SourceRejection } from '../sources/source-events.ts';
import type { FlowConfig } from '../flows/schema.ts';
import type { ExecutorFlow, ModelExecutor } from './model-executor.ts';
import type { ResultSink } from './result-sink.ts';
import { unansweredResult } from './unanswered-result.ts';

export interface FlowPipelineOptions {
  config: FlowConfig;
  configVersion: number;
  source: Observable<RawMessage>;
  decoder: Decoder;
  executor: ModelExecutor;
  /** Model facts for results of frames that never reached it (shed at intake, undecodable). */
  model: { name: string; engine: string; classes: readonly string[] };
  sinks: readonly ResultSink[];
  logger: Logger;
  /** Every result, after it is in the sinks (metrics, demo summary). */
  onResult?: (result: FrameResult) => void;
  now?: () => number;
}

/** Images decode on libvips' thread pool: a few at once keeps the cores busy without piling up work. */
const DECODE_CONCURRENCY = 4;

/**
 * One flow: source → decode → the shared model executor (admission, batching, exits) → sinks → acknowledgement.
 *
 * Every message ends in exactly one result (ok, late, shed or error) and is acknowledged to its broker only after
 * that result is in every sink's buffer, so a crash before then means redelivery, not loss. Intake waits while a
 * sink is above its high-water mark (with MQTT QoS 1 the broker then holds messages back), and sheds at once when
 * more messages are in flight than the queue may hold, so memory stays bounded whatever the source does.
 */
export class FlowPipeline implements ExecutorFlow {
  readonly name: string;
  private config: FlowConfig;
  private version: number;
  private subscription: Subscription | undefined;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly now: () => number;
  private sequence = 0;
  private readonly rejectedBySource = new Map<string, number>();
  private readonly toDecode: RawMessage[] = [];
  private decoding = 0;
  private accepting = true;
  private leftForRedelivery = 0;

  constructor(private readonly options: FlowPipelineOptions) {
    this.name = options.config.name;
    this.config = options.config;
    this.version = options.configVersion;
    this.now = options.now ?? Date.now;
  }

  policy(): ExitPolicy {
    return this.config.policy;
  }

  configVersion(): number {
    return this.version;
  }

  queueCapacity(): number {
    return this.config.limits.queueCapacity;
  }

  maxBatch(): number {
    return this.config.batching.maxBatch;
  }

  maxWaitMs(): number {
    return this.config.batching.maxWaitMs;
  }

  get currentConfig(): FlowConfig {
    return this.config;
  }

  /** Messages received and not yet acknowledged. */
  get pending(): number {
    return this.inFlight;
  }

  /** Live settings (policy, batching, limits): they apply from the next frame planned. */
  applySettings(config: FlowConfig, version: number): void {
    this.config = config;
    this.version = version;
  }

  start(): void {
    if (this.subscription !== undefined) return;
    this.accepting = true;
    this.subscription = this.options.source.subscribe({
      next: (message) => this.receive(message),
      error: (error: unknown) => this.options.logger.error({ err: error }, 'source failed; the flow stopped taking frames'),
    });
  }

  /**
   * Stops intake, waits (up to `timeoutMs`) until every message already received has its result and its
   * acknowledgement, then disconnects the source. The connection stays open while draining so the acknowledgements
   * reach the broker; messages arriving meanwhile are not taken (nor acknowledged): the broker keeps QoS 1 ones for
   * the next session. Resolves true when everything received was answered.
   */
  async stop(timeoutMs: number): Promise<boolean> {
    this.accepting = false;
    let drained = this.inFlight === 0;
    if (!drained) {
      let timer: NodeJS.Timeout | undefined;
      drained = await Promise.race([
        new Promise<boolean>((resolve) => this.idleWaiters.push(() => resolve(true))),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    this.subscription?.unsubscribe();
    this.subscription = undefined;
    if (this.leftForRedelivery > 0) {
      this.options.logger.info({ messages: this.leftForRedelivery }, 'messages that arrived while stopping were left to the broker');
    }
    return drained;
  }

  /** Messages that arrived after stop() began: not taken, not acknowledged (QoS 1 ones are redelivered). */
  get notTaken(): number {
    return this.leftForRedelivery;
  }

  /**
   * Counted the moment it arrives, so stopping the flow can wait for it; shed at once when more messages are in
   * flight than the queue, a batch and the decoders can hold.
   */
  private receive(message: RawMessage): void {
    if (!this.accepting) {
      this.leftForRedelivery += 1;
      return;
    }
    this.inFlight += 1;
    const overfull = this.inFlight > this.config.limits.queueCapacity + this.config.batching.maxBatch + DECODE_CONCURRENCY;
    if (overfull) {
      this.settleUndecoded(message, 'shed', 'queue-full');
      return;
    }
    this.toDecode.push(message);
    this.decodeNext();
  }

  private decodeNext(): void {
    while (this.decoding < DECODE_CONCURRENCY && this.toDecode.length > 0) {
      const message = this.toDecode.shift() as RawMessage;
      this.decoding += 1;
      void this.intake(message).finally(() => {
        this.decoding -= 1;
        this.decodeNext();
      });
    }
  }

  private async intake(message: RawMessage): Promise<void> {
    await this.waitForSinks();
    // Past its deadline before it is even decoded (it waited here behind others, or for the sinks): decoding it would
    // spend the time the frames behind it need, only for the executor to shed it. Its age since it was received is a
    // lower bound where the capture time is inside the payload. Under overload this is where a backlog builds (image
    // decoding costs more than a shallow exit), and the planner cannot see it.
    const { policy } = this.config;
    if (policy.latePolicy === 'shed' && this.now() - (message.captureTs ?? message.receivedTs) > policy.deadlineMs) {
      this.settleUndecoded(message, 'shed', 'no-slack');
      return;
    }
    const decoded = await this.options.decoder.decode(message);
    if (!decoded.ok) {
      this.options.logger.warn({ origin: message.origin, code: decoded.error.code, reason: decoded.error.reason }, 'frame rejected');
      this.settleUndecoded(message, 'error', decoded.error.reason);
      return;
    }
    this.options.executor.submit(this, decoded.frame);
  }

  /**
   * A message the source settled itself (an oversize MQTT payload) still ends as an `error` result, so it is
   * counted like any other frame. Sample-level rejections (bad OPC UA status) are counted, not turned into frames.
   */
  recordSourceRejection(rejection: SourceRejection): void {
    this.rejectedBySource.set(rejection.reason, (this.rejectedBySource.get(rejection.reason) ?? 0) + rejection.count);
    if (rejection.reason !== 'oversize') return;
    const now = this.now();
    for (let i = 0; i < rejection.count; i++) {
      this.inFlight += 1;
      this.settleUndecoded({ flow: this.name, origin: rejection.origin, payload: { kind: 'bytes', bytes: Buffer.alloc(0) }, receivedTs: now, ack: () => undefined }, 'error', 'payload-too-large');
    }
  }

  /** What the source dropped on purpose, by reason (messages or samples). */
  get sourceRejections(): ReadonlyMap<string, number> {
    return this.rejectedBySource;
  }

  private async waitForSinks(): Promise<void> {
    for (const sink of this.options.sinks) {
      if (sink.isAboveHighWater === true && sink.whenBelowHighWater !== undefined) await sink.whenBelowHighWater();
    }
  }

  /** The executor hands every submitted frame back here exactly once. */
  deliver(result: FrameResult, frame: Frame): void {
    const className = result.classIndex === undefined ? undefined : this.options.model.classes[result.classIndex];
    void this.finish(className === undefined ? result : { ...result, className }, frame.ack);
  }

  private settleUndecoded(message: RawMessage, outcome: 'shed' | 'error', reason: string): void {
    const now = this.now();
    const result = unansweredResult(
      {
        flow: this.name,
        id: message.id ?? `${this.name}-rejected-${++this.sequence}`,
        captureTs: message.captureTs ?? message.receivedTs,
        captureTsSource: message.captureTs === undefined ? 'receive' : 'device',
        receivedTs: message.receivedTs,
        model: this.options.model.name,
        engine: this.options.model.engine,
        deadlineMs: this.config.policy.deadlineMs,
        configVersion: this.version,
      },
      outcome,
      reason,
      now,
      now,
    );
    void this.finish(result, message.ack);
  }

  /** Writes the result to every sink; acknowledges the message only when all of them hold it. */
  private async finish(result: FrameResult, ack: () => void): Promise<void> {
    const writes = await Promise.allSettled(this.options.sinks.map((sink) => sink.write(result)));
    const failed = writes.filter((w): w is PromiseRejectedResult => w.status === 'rejected');
    if (failed.length === 0) {
      ack();
    } else {
      // Not acknowledged: the broker redelivers it (QoS 1) rather than a result going missing.
      this.options.logger.error({ id: result.id, err: failed[0]?.reason }, 'result not stored; message left unacknowledged');
    }
    this.options.onResult?.(result);
    this.inFlight -= 1;
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

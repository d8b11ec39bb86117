import type { Logger } from 'pino';
import { filter, finalize, from, map, merge, Observable, Subject, tap, type SchedulerLike, type Subscription } from 'rxjs';
import type { ExitPolicy } from '../control/index.ts';
import { WorkCostEstimate } from '../control/work-cost.ts';
import { peekEnvelope } from '../decode/envelope-peek.ts';
import type { Frame, FrameResult, RawMessage } from '../core/frame.ts';
import type { Decoder, DecodeResult } from '../decode/decoder.ts';
import type { PayloadMetadata } from '../decode/frame-metadata.ts';
import type { SourceRejection } from '../sources/source-events.ts';
import type { FlowConfig } from '../flows/schema.ts';
import type { FlowModel } from './flow-model.ts';
import type { ExecutorFlow } from './model-executor.ts';
import type { ResultSink } from '../sinks/result-sink.ts';
import { unansweredResult } from './unanswered-result.ts';
import { DeviceClocks, type DeviceClockEvents } from './device-clocks.ts';
import { MessageIntake } from './message-intake.ts';
import type { SettledItem, StoredItem } from './operators/flow-item.ts';
import { acknowledgeStored } from './operators/acknowledge-stored.ts';
import { decodeMessages } from './operators/decode-messages.ts';
import { freshestFirst } from './operators/freshest-first.ts';
import { inferFrames } from './operators/infer-frames.ts';
import { shedHopelessOnArrival } from './operators/shed-hopeless-on-arrival.ts';
import { storeResults } from './operators/store-results.ts';

export interface FlowPipelineOptions {
  config: FlowConfig;
  configVersion: number;
  source: Observable<RawMessage>;
  decoder: Decoder;
  /** The model executor, or a ModelBinding that follows model swaps. */
  executor: FlowModel;
  /** Model facts for results of frames that never reached it (shed at intake, undecodable). */
  model: { name: string; engine: string; classes: readonly string[] };
  sinks: readonly ResultSink[];
  logger: Logger;
  /** Every result, after it is in the sinks (metrics, demo summary). */
  onResult?: (result: FrameResult) => void;
  /** Device clock skew, untrusted capture times and clamped latencies, as they happen (metrics). */
  clockEvents?: DeviceClockEvents;
  now?: () => number;
  /** Timers of the intake (expiry sweeps); tests pass a virtual-time scheduler. */
  scheduler?: SchedulerLike;
  /** Decodes at once; default DECODE_CONCURRENCY. */
  decodeConcurrency?: number;
}

/**
 * Decodes at once by default. Images decode off this thread: a few in flight keep decoded frames ready while a model
 * batch holds this thread, also on one core (with one at a time, decoding and inference took turns and the service
 * answered ~140 NEU frames/s on one core with a third of it idle).
 */
const DECODE_CONCURRENCY = 4;

/** How often waiting messages are checked for expiry while nothing else happens. */
const INTAKE_SWEEP_MS = 5;

/**
 * One flow, as an RxJS pipeline: source → shed the hopeless at arrival → intake (freshest first, bounded by time) →
 * decode → the shared model executor (exits, batches) → sinks → acknowledgement (src/pipeline/operators/).
 *
 * Whole-service load awareness: every received frame counts towards the model's arrival rate; a frame is shed at
 * arrival, before it is decoded, when it cannot make its deadline even if it were next (its decode cost is learnt
 * per flow, the model's backlog is the executor's); messages wait undecoded and are released newest first only when a
 * decoder is free and the model's queue is short, so nothing is decoded only to be shed, and the ones that run out of
 * time while waiting leave shed from the old end. Frames waiting here count as queued work for the planner.
 *
 * Every message ends in exactly one result (ok, late, shed or error) and is acknowledged to its broker only after
 * that result is in every sink, so a crash before then means redelivery, not loss. Intake holds back while a sink is
 * above its high-water mark.
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
  private readonly intake = new MessageIntake<RawMessage>();
  private readonly decodeCost = new WorkCostEstimate();
  private readonly decodeConcurrency: number;
  private readonly room$ = new Subject<void>();
  private readonly injected$ = new Subject<SettledItem>();
  private readonly inferring = new Map<Frame, (item: SettledItem) => void>();
  private decoding = 0;
  /** When a message last passed the arrival check. */
  private lastAdmittedTs = -Infinity;
  /** Messages let through as probes (see hopeless). */
  private readonly probes = new WeakSet<RawMessage>();
  private waitingForSinks = false;
  private accepting = true;
  private leftForRedelivery = 0;
  private readonly clocks: DeviceClocks;

  constructor(private readonly options: FlowPipelineOptions) {
    this.name = options.config.name;
    this.config = options.config;
    this.version = options.configVersion;
    this.now = options.now ?? Date.now;
    this.decodeConcurrency = Math.max(1, options.decodeConcurrency ?? DECODE_CONCURRENCY);
    this.clocks = new DeviceClocks({ logger: options.logger, ...options.config.clocks, ...(options.clockEvents === undefined ? {} : { events: options.clockEvents }) });
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

  /** Received, not yet handed to the model: waiting in the intake or being decoded. */
  waitingUpstream(): number {
    return this.intake.size + this.decoding;
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
    const { executor } = this.options;
    const detach = executor.attach(this);
    const stopListening = executor.onSpace(() => this.room$.next());
    const received$ = this.options.source.pipe(
      filter(() => this.accept()),
      tap(() => executor.offered()),
      shedHopelessOnArrival(
        (message) => this.hopeless(message),
        (message, reason) => this.settledUndecoded(message, 'shed', reason),
      ),
      freshestFirst({
        intake: this.intake,
        hasRoom: () => this.hasRoom(),
        room$: this.room$,
        expired: (message) => this.hopeless(message),
        shed: (message, reason) => this.settledUndecoded(message, 'shed', reason),
        maxWaiting: this.config.limits.maxInFlight,
        sweepEveryMs: INTAKE_SWEEP_MS,
        ...(this.options.scheduler === undefined ? {} : { scheduler: this.options.scheduler }),
      }),
      decodeMessages(
        (message) => this.decode(message),
        (message, rejected) => {
          this.options.logger.warn({ origin: message.origin, code: rejected.error.code, reason: rejected.error.reason }, 'frame rejected');
          return this.settledUndecoded(message, 'error', rejected.error.reason, rejected.error.envelope);
        },
      ),
    );
    const settled$ = merge(received$, this.injected$).pipe(
      inferFrames((frame) => this.infer(frame)),
      tap((item) => executor.observeOutcome(item.result)),
      storeResults((result) => this.writeToSinks(result)),
      acknowledgeStored((item) =>
        // Not acknowledged: the broker redelivers it (QoS 1) rather than a result going missing.
        this.options.logger.error({ id: item.result.id, err: item.error }, 'result not stored; message left unacknowledged'),
      ),
    );
    const subscription = settled$.subscribe({
      next: (item) => this.finished(item),
      error: (error: unknown) => this.options.logger.error({ err: error }, 'source failed; the flow stopped taking frames'),
    });
    subscription.add(() => {
      detach();
      stopListening();
    });
    this.subscription = subscription;
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
   * A message the source settled itself (an oversize MQTT payload) still ends as an `error` result, so it is
   * counted like any other frame. Sample-level rejections (bad OPC UA status) are counted, not turned into frames.
   */
  recordSourceRejection(rejection: SourceRejection): void {
    this.rejectedBySource.set(rejection.reason, (this.rejectedBySource.get(rejection.reason) ?? 0) + rejection.count);
    if (rejection.reason !== 'oversize') return;
    if (this.subscription === undefined) return;
    const now = this.now();
    for (let i = 0; i < rejection.count; i++) {
      this.inFlight += 1;
      this.injected$.next(this.settledUndecoded({ flow: this.name, origin: rejection.origin, payload: { kind: 'bytes', bytes: Buffer.alloc(0) }, receivedTs: now, ack: () => undefined }, 'error', 'payload-too-large'));
    }
  }

  /** What the source dropped on purpose, by reason (messages or samples). */
  get sourceRejections(): ReadonlyMap<string, number> {
    return this.rejectedBySource;
  }

  /** Counted the moment it arrives, so stopping the flow can wait for it; not taken once stopping began. */
  private accept(): boolean {
    if (!this.accepting) {
      this.leftForRedelivery += 1;
      return false;
    }
    this.inFlight += 1;
    return true;
  }

  /**
   * Why a message cannot make its deadline even if it were decoded now and went straight to the model behind what is
   * queued there: the planner's no-slack rule (executor.missesAt: alone, at the lowest exit its policy allows, at the
   * median), starting once its decode at the flow's learnt cost is done ('no-slack'), or once the model's backlog is
   * too ('overload'). Undefined while it can, and always when the flow answers late frames instead of shedding them.
   */
  private hopeless(message: RawMessage): string | undefined {
    const { policy } = this.config;
    if (policy.latePolicy !== 'shed' || this.probes.has(message)) return undefined;
    const { executor } = this.options;
    const now = this.now();
    const claimedTs = message.captureTs ?? peekEnvelope(message)?.captureTs;
    const due = this.clocks.trustedCaptureTs(claimedTs, message.receivedTs) + policy.deadlineMs;
    const decoded = now + this.decodeCost.ms;
    if (executor.missesAt(policy, due, decoded)) {
      // A probe, when the learnt decode cost alone stands in the way and the decoders are idle with nothing waiting:
      // it costs no other frame anything, and a cost learnt in a stall would otherwise shed every frame for good.
      // Also one frame per deadline, whatever the estimates say, while none got through: a frame shed here is never
      // decoded nor run, so estimates made too pessimistic by a stall could never learn otherwise, and every frame
      // would be shed for good.
      const probe =
        (this.decoding === 0 && this.intake.size === 0 && !executor.missesAt(policy, due, now)) ||
        (now - this.lastAdmittedTs >= policy.deadlineMs && due > now);
      if (!probe) return 'no-slack';
      // Not shed by the intake's own check either, while it waits for a decoder.
      this.probes.add(message);
    } else if (executor.missesAt(policy, due, decoded + executor.backlogMs())) return 'overload';
    this.lastAdmittedTs = now;
    return undefined;
  }

  /** Room for one more decode: a decoder free, the model's queue for this flow short, no sink above high water. */
  private hasRoom(): boolean {
    if (this.decoding >= this.decodeConcurrency) return false;
    // Two batches queued at the model keep it busy; more would only wait there, decoded, with less slack each.
    if (this.decoding + this.options.executor.queueDepth(this.name) >= Math.min(this.config.limits.queueCapacity, 2 * this.config.batching.maxBatch)) return false;
    const full = this.options.sinks.find((sink) => sink.isAboveHighWater === true && sink.whenBelowHighWater !== undefined);
    if (full === undefined) return true;
    if (!this.waitingForSinks) {
      this.waitingForSinks = true;
      void full.whenBelowHighWater?.().then(() => {
        this.waitingForSinks = false;
        this.room$.next();
      });
    }
    return false;
  }

  private decode(message: RawMessage): Observable<DecodeResult> {
    this.decoding += 1;
    const startedMs = performance.now();
    return from(this.options.decoder.decode(message)).pipe(
      tap(() => this.decodeCost.observe(performance.now() - startedMs)),
      map((result) => (result.ok ? { ok: true as const, frame: this.withTrustedClock(message.origin, result.frame) } : result)),
      // After the decoded frame went downstream (into the model's queue): only then is its decoder's room free, so
      // the room check sees the frame where it now is. The next decode starts in a later turn of the event loop:
      // a decoder that works on this thread (JSON) would otherwise chain decode after decode in microtasks, and the
      // model's completions and timers could not run until the intake was empty.
      finalize(() => {
        this.decoding -= 1;
        setImmediate(() => this.room$.next());
      }),
    );
  }

  private infer(frame: Frame): Observable<SettledItem> {
    return new Observable<SettledItem>((subscriber) => {
      this.inferring.set(frame, (item) => {
        subscriber.next(item);
        subscriber.complete();
      });
      this.options.executor.submit(this, frame);
    });
  }

  /** The executor hands every submitted frame back here exactly once. */
  deliver(result: FrameResult, frame: Frame): void {
    const settle = this.inferring.get(frame);
    if (settle === undefined) return;
    this.inferring.delete(frame);
    const className = result.classIndex === undefined ? undefined : this.options.model.classes[result.classIndex];
    const answered: FrameResult = { ...result, e2eMs: this.clocks.nonNegative(result.e2eMs) };
    if (className !== undefined) answered.className = className;
    if (frame.deviceClockSkewMs !== undefined) answered.deviceClockSkewMs = frame.deviceClockSkewMs;
    if (frame.device !== undefined) answered.device = frame.device;
    settle({ kind: 'settled', result: answered, ack: frame.ack });
  }

  /** The clock rule (device-clocks.ts) on a decoded frame: its device's skew observed, a future capture time replaced. */
  private withTrustedClock(origin: string, frame: Frame): Frame {
    if (frame.captureTsSource !== 'device') return frame;
    const { device, skewMs } = this.clocks.observe(origin, frame.captureTs, frame.receivedTs, frame.id);
    return { ...frame, ...this.clocks.judge(frame.captureTs, frame.receivedTs), deviceClockSkewMs: skewMs, device };
  }

  private async writeToSinks(result: FrameResult): Promise<void> {
    const writes = await Promise.allSettled(this.options.sinks.map((sink) => sink.write(result)));
    const failed = writes.find((w): w is PromiseRejectedResult => w.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  /**
   * The result of a message that never reached the model. `envelope`: what its payload said about itself before it
   * was rejected (its id and ts are kept, as for any frame; transport metadata wins, as in buildFrame).
   */
  private settledUndecoded(message: RawMessage, outcome: 'shed' | 'error', reason: string, decoded?: PayloadMetadata): SettledItem {
    const now = this.now();
    // Shed before decoding: the id and time the envelope carries are read from its head, not parsed in full.
    const envelope = decoded ?? (message.id === undefined || message.captureTs === undefined ? peekEnvelope(message) : undefined);
    const claimedTs = message.captureTs ?? envelope?.captureTs;
    const skew = claimedTs === undefined ? undefined : this.clocks.observe(message.origin, claimedTs, message.receivedTs, message.id ?? envelope?.id);
    const label = envelope?.label;
    const result = unansweredResult(
      {
        flow: this.name,
        id: message.id ?? envelope?.id ?? `${this.name}-rejected-${++this.sequence}`,
        ...this.clocks.judge(claimedTs, message.receivedTs),
        receivedTs: message.receivedTs,
        ...(label === undefined ? {} : { label }),
        model: this.options.executor.modelName,
        modelVersion: this.options.executor.modelVersion,
        engine: this.options.model.engine,
        deadlineMs: this.config.policy.deadlineMs,
        configVersion: this.version,
      },
      outcome,
      reason,
      now,
      now,
    );
    result.e2eMs = this.clocks.nonNegative(result.e2eMs);
    if (skew !== undefined) {
      result.deviceClockSkewMs = skew.skewMs;
      result.device = skew.device;
    }
    return { kind: 'settled', result, ack: message.ack };
  }

  /** A message is done: its result stored (and acknowledged) or left for redelivery. */
  private finished(item: StoredItem): void {
    this.options.onResult?.(item.result);
    this.inFlight -= 1;
    if (this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

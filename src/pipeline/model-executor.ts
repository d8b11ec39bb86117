import type { Logger } from 'pino';
import {
  ExitController,
  type ControlledBatch,
  type ExitPolicy,
  type LatencyEstimator,
  type ModelView,
  type PlannedFrame,
  type QueuedFrame,
} from '../control/index.ts';
import { modelInputPool } from '../core/float32-pool.ts';
import type { Frame, FrameResult } from '../core/frame.ts';
import type { FrameAnswer, MultiExitRunner } from '../model/multi-exit-runner.ts';
import { admitToQueue, hasNoSlack } from '../control/admission.ts';
import { guaranteedCpuShare, OtherWorkShareMeter, type CpuClock } from '../control/other-work-share.ts';
import type { FlowModel } from './flow-model.ts';
import { unansweredResult } from './unanswered-result.ts';

/** What the executor needs of a flow: its live settings and where its results go. */
export interface ExecutorFlow {
  readonly name: string;
  /** Read at planning time, so a hot-reloaded deadline applies from the next planned frame. */
  policy(): ExitPolicy;
  configVersion(): number;
  queueCapacity(): number;
  maxBatch(): number;
  maxWaitMs(): number;
  /** Every frame handed to `submit` comes back here exactly once. */
  deliver(result: FrameResult, frame: Frame): void;
  /** Frames received and not yet submitted (waiting for the decoder): queued work the planner cannot see yet. */
  waitingUpstream?(): number;
}

interface Job {
  frame: Frame;
  flow: ExecutorFlow;
  key: string;
  enqueuedTs: number;
}

export interface ModelExecutorOptions {
  runner: MultiExitRunner;
  estimator: LatencyEstimator;
  model: ModelView;
  engine: string;
  /** Written into every result (`model_version`): the content hash of the model folder (shared-model.ts). */
  modelVersion: string;
  logger: Logger;
  now?: () => number;
  /** Cores the process may use (os.availableParallelism()); with cpuClock, how much room other work leaves. */
  cores?: number;
  cpuClock?: CpuClock;
  /**
   * The CPU weights of every model in the process, this one's included (ModelExecutor.cpuWeight). Each is entitled
   * to weight / sum of the inference budget however busy the others are: a burst on one model's flows then lowers
   * its own exits and sheds its own frames, and the others keep the time their deadlines need. Default: alone.
   */
  cpuWeights?: () => readonly number[];
}

const epochNow = (): number => performance.timeOrigin + performance.now();

/**
 * Runs one model for every flow that uses it. Frames of all these flows wait in one queue; the controller plans
 * each batch from it (earliest deadline first, exits lowered before anything is shed), so an overloaded flow sheds
 * its own hopeless frames instead of taking the time another flow's deadlines need. Each flow keeps its own queue
 * capacity, so one flow cannot fill the queue for all. Batches run one at a time: a model saturates the CPU alone.
 */
export class ModelExecutor implements FlowModel {
  private readonly queue: Job[] = [];
  private readonly queuedPerFlow = new Map<string, number>();
  private readonly controller: ExitController;
  private readonly otherWork: OtherWorkShareMeter;
  private readonly flows = new Set<ExecutorFlow>();
  private readonly spaceListeners = new Set<() => void>();
  private predictedBusyUntilTs = 0;
  private readonly now: () => number;
  private running = false;
  private batchTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];
  private sequence = 0;
  /** While set, no batch starts (a swapped-in model waits for the one it replaces to finish its frames). */
  private held = false;

  constructor(private readonly options: ModelExecutorOptions) {
    this.now = options.now ?? epochNow;
    this.controller = new ExitController({ model: options.model, latency: options.estimator });
    this.otherWork = new OtherWorkShareMeter(options.cores ?? 1, options.cpuClock);
    options.runner.onStageTiming((timing) => this.controller.observeStage(timing));
  }

  get modelName(): string {
    return this.options.runner.manifest.name;
  }

  get modelVersion(): string {
    return this.options.modelVersion;
  }

  /**
   * Starts no batch until `until` settles: a model swapped in waits for the model it replaces to finish the frames
   * queued there, so the two never run batches at once (each alone saturates its core share). Frames queue meanwhile.
   */
  holdUntil(until: Promise<unknown>): void {
    this.held = true;
    const release = (): void => {
      this.held = false;
      this.schedule();
    };
    until.then(release, release);
  }

  /** Frames waiting, per flow (for metrics and stats). */
  queueDepth(flow?: string): number {
    return flow === undefined ? this.queue.length : (this.queuedPerFlow.get(flow) ?? 0);
  }

  /** The scale on the inference budget that missed deadlines put there (1: none; miss-feedback.ts), for metrics. */
  get workBudgetScale(): number {
    return this.controller.budgetScale;
  }

  get busy(): boolean {
    return this.running || this.queue.length > 0;
  }

  /**
   * A frame was offered to one of this model's flows (received, before anything else): the planner's arrival rate
   * counts every offered frame, also those shed or still waiting upstream, so under overload it plans for the load
   * that is really there.
   */
  offered(now = this.now()): void {
    this.controller.offered(now);
    this.otherWork.observeOffered();
  }

  /** A flow that submits here: the planner counts what waits upstream in it (waitingUpstream). */
  attach(flow: ExecutorFlow): () => void {
    this.flows.add(flow);
    return () => this.flows.delete(flow);
  }

  /** Calls `listener` whenever frames leave the queue for a batch or a shed: there is room to submit more. */
  onSpace(listener: () => void): () => void {
    this.spaceListeners.add(listener);
    return () => this.spaceListeners.delete(listener);
  }

  /**
   * Predicted ms until the model is free of what is queued and running now, every queued frame at exit 1 and at the
   * median (the least it can cost): admission's view of the wait ahead of a frame submitted now.
   */
  backlogMs(now = this.now()): number {
    const running = Math.max(0, this.predictedBusyUntilTs - now);
    if (this.queue.length === 0) return running;
    const { model, estimator } = this.options;
    const batch = Math.max(1, Math.min(this.queue.length, ...this.queue.map((job) => job.flow.maxBatch())));
    const perFrame = estimator.stagesMs(1, model.exits[0]?.stage ?? 1, batch, 0.5) / batch;
    return running + this.queue.length * perFrame + this.controller.batchOverheadMs * Math.ceil(this.queue.length / batch);
  }

  /**
   * Whether a frame of `policy` due at `deadlineTs` misses it even if its inference starts at `startTs`, alone, at the
   * lowest exit its policy allows, at the median: the planner's no-slack rule (admission.ts), for admission upstream.
   */
  missesAt(policy: ExitPolicy, deadlineTs: number, startTs: number): boolean {
    return hasNoSlack(this.options.model, this.options.estimator, { policy, deadlineTs }, startTs, this.controller.batchOverheadMs);
  }

  submit(flow: ExecutorFlow, frame: Frame): void {
    const now = this.now();
    const queued = this.queuedPerFlow.get(flow.name) ?? 0;
    // Its arrival was counted when it was offered (offered), before decoding.
    const refused = admitToQueue(queued, { queueCapacity: flow.queueCapacity() });
    if (refused !== null) {
      this.settle(flow, this.unanswered(flow, frame, 'shed', refused, now), frame);
      return;
    }
    this.queuedPerFlow.set(flow.name, queued + 1);
    this.queue.push({ frame, flow, key: `${++this.sequence}`, enqueuedTs: now });
    this.schedule();
  }

  /**
   * A result of one of this model's flows, however it was settled: answered in time (`ok`), or a miss (`late`, or
   * `shed` for want of time, at arrival too), teaches the controller how the plans fare (miss-feedback.ts). Errors are
   * about the input, not the plan, and are not counted.
   */
  observeOutcome(result: FrameResult): void {
    if (result.outcome === 'error') return;
    this.controller.observeOutcome(result.outcome === 'ok', this.now());
  }

  /** Resolves once the queue is empty and no batch runs (graceful shutdown, hot reload of a model). */
  async drained(): Promise<void> {
    if (!this.busy) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.running || this.held || this.queue.length === 0) return;
    const wait = this.batchWaitMs();
    if (wait > 0) {
      this.batchTimer ??= setTimeout(() => {
        this.batchTimer = undefined;
        this.schedule();
      }, wait);
      return;
    }
    if (this.batchTimer !== undefined) {
      clearTimeout(this.batchTimer);
      this.batchTimer = undefined;
    }
    this.running = true;
    void this.pump().finally(() => {
      this.running = false;
      if (this.queue.length > 0) this.schedule();
      else this.notifyIdle();
    });
  }

  /**
   * How long to hold a partial batch for more frames: up to the smallest maxWaitMs of the waiting frames' flows,
   * counted from the oldest frame, never past a full batch.
   */
  private batchWaitMs(): number {
    const maxBatch = Math.max(...this.queue.map((job) => job.flow.maxBatch()));
    if (this.queue.length >= maxBatch) return 0;
    const oldest = Math.min(...this.queue.map((job) => job.enqueuedTs));
    const maxWait = Math.min(...this.queue.map((job) => job.flow.maxWaitMs()));
    return Math.max(0, oldest + maxWait - this.now());
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0) {
      const now = this.now();
      const byKey = new Map(this.queue.map((job) => [job.key, job]));
      const queued: QueuedFrame[] = this.queue.map((job) => ({ id: job.key, captureTs: job.frame.captureTs, policy: job.flow.policy() }));
      const plan = this.controller.plan(queued, now, {
        maxBatch: Math.max(...this.queue.map((job) => job.flow.maxBatch())),
        // The flows' capacities together: the planner reserves room within it for frames about to arrive.
        queueCapacity: this.totalCapacity(),
        waitingUpstream: this.waitingUpstream(),
        otherWorkShare: this.otherWorkShare(),
      });
      const taken = new Set([...plan.batch.map((p) => p.id), ...plan.shed.map((s) => s.id)]);
      this.removeFromQueue(taken);
      for (const shed of plan.shed) {
        const job = byKey.get(shed.id);
        if (job !== undefined) this.settle(job.flow, this.unanswered(job.flow, job.frame, 'shed', shed.reason, now), job.frame);
      }
      if (taken.size > 0) for (const listener of this.spaceListeners) listener();
      if (plan.batch.length === 0) continue;
      this.predictedBusyUntilTs = plan.predictedBatchEndTs;
      const jobs = plan.batch.map((planned) => byKey.get(planned.id) as Job);
      await this.runBatch(plan, jobs);
      // The prediction plans with a high latency quantile: a batch that ended sooner leaves the model free now, not
      // busy until its predicted end (arrival admission would otherwise shed frames as 'overload' on an idle core).
      this.predictedBusyUntilTs = Math.min(this.predictedBusyUntilTs, this.now());
      // A batch runs on the main thread without a break (its stages back to back): a turn of the event loop between
      // batches lets arrivals in, other models' batches run and sinks write, rather than one queue draining whole.
      await nextTurnOfEventLoop();
    }
  }

  /** This model's claim on the CPU when several models share it: the largest `policy.cpuWeight` of its flows. */
  cpuWeight(): number {
    let weight = 0;
    for (const flow of this.flows) weight = Math.max(weight, flow.policy().cpuWeight);
    return weight > 0 ? weight : 1;
  }

  /** What other work takes of the core, capped so that this model keeps its share (weight / sum) when several share it. */
  private otherWorkShare(): number {
    return Math.min(this.otherWork.share(this.controller.arrivalRatePerMs(this.now())), 1 - guaranteedCpuShare(this.cpuWeight(), this.options.cpuWeights?.() ?? []));
  }

  private waitingUpstream(): number {
    let waiting = 0;
    for (const flow of this.flows) waiting += flow.waitingUpstream?.() ?? 0;
    return waiting;
  }

  private totalCapacity(): number {
    const flows = new Set(this.queue.map((job) => job.flow));
    let total = 0;
    for (const flow of flows) total += flow.queueCapacity();
    return Math.max(total, this.queue.length);
  }

  private removeFromQueue(keys: ReadonlySet<string>): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const job = this.queue[i] as Job;
      if (!keys.has(job.key)) continue;
      this.queue.splice(i, 1);
      this.queuedPerFlow.set(job.flow.name, (this.queuedPerFlow.get(job.flow.name) ?? 1) - 1);
    }
  }

  private async runBatch(plan: ControlledBatch, jobs: readonly Job[]): Promise<void> {
    const startTs = this.now();
    let answers: FrameAnswer[];
    let endTs: number;
    let stagesMs: number;
    try {
      // No frame goes past its cap: the stage at the deepest cap need not hand out features.
      const run = await this.options.runner.runBatch(jobs.map((job) => job.frame.tensor), { decide: plan.decide, vote: plan.vote, lastExit: plan.lastExit });
      endTs = this.now();
      answers = run.answers;
      stagesMs = run.timings.reduce((sum, timing) => sum + timing.ms, 0);
      this.otherWork.observeInference(stagesMs);
    } catch (error) {
      // One failed batch is an `error` outcome for its frames, never the end of the stream.
      this.options.logger.error({ err: error, batch: jobs.length }, 'inference failed');
      const failedTs = this.now();
      for (const job of jobs) this.settle(job.flow, this.unanswered(job.flow, job.frame, 'error', 'inference-failed', startTs, failedTs), job.frame);
      this.controller.observe(plan, { startTs, endTs: failedTs, stagesMs: 0, freeTs: this.now() });
      return;
    }
    const finishTs = this.now();
    answers.forEach((answer, i) => {
      const planned = plan.batch[i] as PlannedFrame;
      const job = jobs[i] as Job;
      this.settle(job.flow, this.answerResult(job, planned, answer, plan.answerBy(i, answer, finishTs), startTs, finishTs), job.frame);
    });
    // Judged once the results are out: the plan predicted when the runtime would be free for the next batch.
    this.controller.observe(plan, { answers, startTs, endTs, stagesMs, freeTs: this.now() });
  }

  private answerResult(
    job: Job,
    planned: PlannedFrame,
    answer: FrameAnswer,
    answerBy: 'exit' | 'vote',
    startTs: number,
    finishTs: number,
  ): FrameResult {
    const { frame, flow } = job;
    const chosen = answerBy === 'vote' && answer.vote !== undefined ? answer.vote : answer.output;
    const e2eMs = finishTs - frame.captureTs;
    const deadlineMs = planned.policy.deadlineMs;
    const met = e2eMs <= deadlineMs;
    return {
      flow: flow.name,
      id: frame.id,
      captureTs: frame.captureTs,
      captureTsSource: frame.captureTsSource,
      model: this.options.runner.manifest.name,
      modelVersion: this.options.modelVersion,
      engine: this.options.engine,
      outcome: met && !planned.late ? 'ok' : 'late',
      ...(planned.late ? { reason: 'no-slack' } : {}),
      exit: answer.exit,
      classIndex: chosen.classIndex,
      confidence: chosen.confidence,
      ...(frame.label === undefined ? {} : { label: frame.label }),
      queueMs: Math.max(0, startTs - frame.receivedTs),
      inferMs: answer.inferMs,
      e2eMs,
      deadlineMs,
      deadlineMet: met,
      configVersion: flow.configVersion(),
    };
  }


  /** A frame's result goes to its flow; its input, done with, goes back to the pool the decoder took it from. */
  private settle(flow: ExecutorFlow, result: FrameResult, frame: Frame): void {
    flow.deliver(result, frame);
    modelInputPool.give(frame.tensor);
  }

  /** What a frame of `flow` that the model did not answer becomes. */
  private unanswered(flow: ExecutorFlow, frame: Frame, outcome: 'shed' | 'error', reason: string, leftQueueTs: number, endTs = leftQueueTs): FrameResult {
    return unansweredResult(
      {
        ...frame,
        flow: flow.name,
        model: this.options.runner.manifest.name,
        modelVersion: this.options.modelVersion,
        engine: this.options.engine,
        deadlineMs: flow.policy().deadlineMs,
        configVersion: flow.configVersion(),
      },
      outcome,
      reason,
      leftQueueTs,
      endTs,
    );
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

function nextTurnOfEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

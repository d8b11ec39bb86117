import type { ExitPolicy } from '../control/index.ts';
import type { Frame, FrameResult } from '../core/frame.ts';
import type { ServingModel } from '../sinks/flow-stats.ts';
import type { FlowModel } from './flow-model.ts';
import type { ExecutorFlow } from './model-executor.ts';
import type { SharedModel } from './shared-model.ts';

/**
 * The model a flow's pipeline submits to, as one stable object while the model behind it changes (a swap). After
 * `switchTo`, new frames go to the new model; frames already submitted to the old one finish there (each executor
 * hands its frames back to the flow itself) and still count in queueDepth and backlogMs until it has drained, so
 * admission sees them.
 */
export class ModelBinding implements FlowModel {
  private serving: SharedModel;
  private readonly draining = new Set<SharedModel>();
  private readonly flows = new Map<ExecutorFlow, () => void>();
  private readonly spaceListeners = new Map<() => void, (() => void)[]>();

  constructor(model: SharedModel) {
    this.serving = model;
  }

  get current(): SharedModel {
    return this.serving;
  }

  get modelName(): string {
    return this.serving.executor.modelName;
  }

  get modelVersion(): string {
    return this.serving.version;
  }

  /** Name, version and exit count of the model serving now (the flow_stats tags). */
  servingModel(): ServingModel {
    return { name: this.modelName, version: this.modelVersion, exitCount: this.serving.loaded.manifest.exits.length };
  }

  /**
   * New frames go to `next` from now on; resolves once the old model has finished every frame it was given. The old
   * model's `space` events still reach the listeners until then (its queue emptying is room for the flow).
   */
  async switchTo(next: SharedModel): Promise<void> {
    const previous = this.serving;
    if (previous === next) return;
    this.serving = next;
    for (const [flow, detach] of this.flows) {
      detach();
      this.flows.set(flow, next.executor.attach(flow));
    }
    for (const [listener, unsubscribes] of this.spaceListeners) unsubscribes.push(next.executor.onSpace(listener));
    this.draining.add(previous);
    try {
      await previous.executor.drained();
    } finally {
      this.draining.delete(previous);
    }
  }

  offered(now?: number): void {
    this.serving.executor.offered(now);
  }

  attach(flow: ExecutorFlow): () => void {
    this.flows.set(flow, this.serving.executor.attach(flow));
    return () => {
      this.flows.get(flow)?.();
      this.flows.delete(flow);
    };
  }

  onSpace(listener: () => void): () => void {
    const unsubscribes = [this.serving.executor.onSpace(listener), ...[...this.draining].map((model) => model.executor.onSpace(listener))];
    this.spaceListeners.set(listener, unsubscribes);
    return () => {
      for (const unsubscribe of this.spaceListeners.get(listener) ?? []) unsubscribe();
      this.spaceListeners.delete(listener);
    };
  }

  /** The serving model's backlog plus what the models being replaced still have to finish (they share the CPU). */
  backlogMs(now?: number): number {
    let backlog = this.serving.executor.backlogMs(now);
    for (const model of this.draining) backlog += model.executor.backlogMs(now);
    return backlog;
  }

  /** The serving model's work-budget scale (ModelExecutor.workBudgetScale). */
  get workBudgetScale(): number {
    return this.serving.executor.workBudgetScale;
  }

  observeOutcome(result: FrameResult): void {
    this.serving.executor.observeOutcome(result);
  }

  missesAt(policy: ExitPolicy, deadlineTs: number, startTs: number): boolean {
    return this.serving.executor.missesAt(policy, deadlineTs, startTs);
  }

  submit(flow: ExecutorFlow, frame: Frame): void {
    this.serving.executor.submit(flow, frame);
  }

  queueDepth(flow?: string): number {
    let depth = this.serving.executor.queueDepth(flow);
    for (const model of this.draining) depth += model.executor.queueDepth(flow);
    return depth;
  }
}

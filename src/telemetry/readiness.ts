import { redactUrl } from './logger.ts';

/**
 * Readiness: whether this process should get traffic now. Components register a check each (a source that is
 * connected, a model that is loaded, a sink whose buffer is below its high-water mark); the process is ready only
 * when every registered check passes. With no check registered the process counts as ready: register the checks
 * before starting the HTTP server (the pipeline does this when it builds a flow).
 *
 * Notices are what an operator should see beside readiness without it blocking: a flow file rejected on hot reload
 * keeps its flow on its last good config (or starts none), so waiting for it would keep the process unready forever.
 */

export interface CheckResult {
  ok: boolean;
  /** One line for the operator, e.g. `disconnected since 12:03:04` or `buffer 9120 ≥ high-water 8000`. */
  detail?: string;
}

/** Synchronous or async; a throw, a rejection or a timeout counts as failing. */
export type ReadinessCheck = () => CheckResult | boolean | Promise<CheckResult | boolean>;

export interface CheckReport {
  name: string;
  ok: boolean;
  detail?: string;
}

/** Something wrong that does not block readiness, e.g. `{ name: 'file:flows/camera.yaml', detail: 'rejected: ...' }`. */
export interface Notice {
  name: string;
  detail: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: CheckReport[];
  failing: CheckReport[];
  notices: Notice[];
}

export class Readiness {
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly noticeSources = new Set<() => readonly Notice[]>();

  /** @param checkTimeoutMs a check slower than this fails, so /readyz always answers. */
  constructor(private readonly checkTimeoutMs = 2_000) {}

  /**
   * Registers a named check (names like `flow:camera-neu:source`, `model:neu-multiexit`, `sink:influxdb`). A second
   * registration under the same name replaces the first (a hot-reloaded flow re-registers). Returns the unregister
   * function for when the component stops.
   */
  register(name: string, check: ReadinessCheck): () => void {
    this.checks.set(name, check);
    return () => {
      if (this.checks.get(name) === check) this.checks.delete(name);
    };
  }

  /** Registers a source of notices, read on every evaluation (synchronous: it reads state, it does not probe). */
  registerNotices(source: () => readonly Notice[]): () => void {
    this.noticeSources.add(source);
    return () => {
      this.noticeSources.delete(source);
    };
  }

  names(): string[] {
    return [...this.checks.keys()];
  }

  async evaluate(): Promise<ReadinessReport> {
    const checks = await Promise.all([...this.checks].map(([name, check]) => this.run(name, check)));
    const failing = checks.filter((check) => !check.ok);
    return { ready: failing.length === 0, checks, failing, notices: this.notices() };
  }

  private notices(): Notice[] {
    const notices: Notice[] = [];
    for (const source of this.noticeSources) {
      try {
        for (const notice of source()) notices.push({ name: notice.name, detail: redactUrl(notice.detail) });
      } catch (error) {
        notices.push({ name: 'readiness', detail: `a notice source failed: ${redactUrl(error instanceof Error ? error.message : String(error))}` });
      }
    }
    return notices;
  }

  private async run(name: string, check: ReadinessCheck): Promise<CheckReport> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<CheckResult>((resolve) => {
        timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${this.checkTimeoutMs} ms` }), this.checkTimeoutMs);
      });
      const raw = await Promise.race([Promise.resolve().then(check), timeout]);
      const result = typeof raw === 'boolean' ? { ok: raw } : raw;
      return result.detail === undefined ? { name, ok: result.ok } : { name, ok: result.ok, detail: redactUrl(result.detail) };
    } catch (error) {
      return { name, ok: false, detail: redactUrl(error instanceof Error ? error.message : String(error)) };
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Ready while `connected()` is true: for MQTT and OPC UA sources. */
export function connectedCheck(connected: () => boolean): ReadinessCheck {
  return () => (connected() ? { ok: true } : { ok: false, detail: 'not connected' });
}

/** Ready while the buffer holds fewer than `highWater` points: a sink that cannot drain makes the process unready. */
export function belowHighWaterCheck(size: () => number, highWater: number): ReadinessCheck {
  return () => {
    const points = size();
    return points < highWater ? { ok: true, detail: `${points} < ${highWater}` } : { ok: false, detail: `buffer ${points} >= high-water ${highWater}` };
  };
}

/**
 * Base of every error EdgeKE raises on purpose: a stable `code` for metrics, logs and tests, and whether retrying
 * the same operation can succeed (network blips, 5xx) or cannot (bad config, bad input, 4xx).
 */
export class EdgekeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A flow file or setting that cannot work: reported before anything connects, never retried. */
export class ConfigError extends EdgekeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EDGEKE_CONFIG', message, false, options);
  }
}

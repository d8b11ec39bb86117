import { EdgekeError } from '../errors.ts';

/**
 * The controller was given something it cannot plan with (an empty or inconsistent latency profile, a model view
 * whose exits do not match its stages). Raised when a flow starts or reloads, never per frame, and never retryable:
 * the same inputs fail the same way.
 */
export class ControlError extends EdgekeError {
  constructor(code: `EDGEKE_CONTROL_${string}`, message: string) {
    super(code, message, false);
  }
}

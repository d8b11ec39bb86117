import { EdgekeError } from '../errors.ts';

/** A write to InfluxDB failed. Retryable: network errors, timeouts, 5xx, 408, 429. Not: other 4xx (the batch is bad). */
export class InfluxWriteError extends EdgekeError {
  constructor(
    message: string,
    retryable: boolean,
    /** HTTP status when InfluxDB answered. */
    readonly status?: number,
    options?: { cause?: unknown; droppedPoints?: number },
  ) {
    super(retryable ? 'EDGEKE_INFLUX_UNAVAILABLE' : 'EDGEKE_INFLUX_REJECTED', message, retryable, options);
    this.droppedPoints = options?.droppedPoints;
  }

  /** For a partial write ("partial write: ... dropped=N"): how many points InfluxDB dropped; the rest were written. */
  readonly droppedPoints: number | undefined;
}

/** A result that cannot be written as line protocol (e.g. a tag value with a newline). Counted, never retried. */
export class InvalidPointError extends EdgekeError {
  constructor(message: string) {
    super('EDGEKE_INFLUX_INVALID_POINT', message, false);
  }
}

/** The sink is closed: nothing more is accepted. */
export class SinkClosedError extends EdgekeError {
  constructor(sink: string) {
    super('EDGEKE_SINK_CLOSED', `${sink} is closed`, false);
  }
}

/** Publishing a result over MQTT failed (broker down, not connected); the publisher may retry. */
export class MqttPublishError extends EdgekeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EDGEKE_MQTT_PUBLISH', message, true, options);
  }
}

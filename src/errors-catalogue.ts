/**
 * Every error code EdgeKE raises on purpose, with what it means and what a user does about it. docs/errors.md is
 * rendered from this list (`npm run docs:errors`); test/errors-catalogue.test.ts fails when a code used in src/ is
 * missing here, when an entry is no longer used, when an error class's `retryable` disagrees with its entry, or
 * when docs/errors.md is stale. Codes are stable: they reach logs, metrics and scripts, so only add to this list.
 */
export interface ErrorCodeEntry {
  code: string;
  /** The class that carries it (src/ path in the docs). */
  errorClass: string;
  module: string;
  /** Whether retrying the same operation can succeed. */
  retryable: boolean;
  meaning: string;
  /** What the user does about it. */
  action: string;
}

export const ERROR_CATALOGUE: readonly ErrorCodeEntry[] = [
  {
    code: 'EDGEKE_CONFIG',
    errorClass: 'ConfigError, FlowConfigError',
    module: 'src/errors.ts, src/flows/errors.ts',
    retryable: false,
    meaning: 'A flow file or setting cannot work (schema, environment variable, unusable spill folder, port); reported before anything connects. FlowConfigError lists every problem with file, path and line.',
    action: 'Fix the file or setting named in the message; `edgeke check <dir>` validates flows without connecting. On hot reload the bad edit is rejected and the running flow keeps going.',
  },
  {
    code: 'EDGEKE_USAGE',
    errorClass: 'UsageError',
    module: 'src/core/command.ts',
    retryable: false,
    meaning: 'A wrong `edgeke` invocation (unknown option, bad option value, wrong number of arguments); the command prints its usage and exits 2.',
    action: 'Correct the command line; `edgeke <command> --help` lists the options.',
  },
  {
    code: 'EDGEKE_MODEL_MANIFEST',
    errorClass: 'ManifestError',
    module: 'src/model/errors.ts',
    retryable: false,
    meaning: "A model's manifest.json is missing, is not JSON, or does not follow docs/model-format.md.",
    action: 'Fix or re-export the model folder named in the message (training/ writes manifests); the flow does not start until it loads.',
  },
  {
    code: 'EDGEKE_MODEL_FILE',
    errorClass: 'ModelFileError',
    module: 'src/model/errors.ts',
    retryable: false,
    meaning: "A stage's ONNX file is missing, unreadable or not a graph the runtime can run.",
    action: 'Restore or re-export the file named in the message.',
  },
  {
    code: 'EDGEKE_MODEL_UNSUPPORTED_OP',
    errorClass: 'UnsupportedOperatorError',
    module: 'src/model/errors.ts',
    retryable: false,
    meaning: "A graph uses an operator outside the model format's list (docs/model-format.md), which the TensorFlow.js engine cannot run.",
    action: 'Use the ONNX Runtime engine (`model.engine: onnx`, the default), or export the model with the listed operators only.',
  },
  {
    code: 'EDGEKE_MODEL_INPUT',
    errorClass: 'ModelInputError',
    module: 'src/model/errors.ts',
    retryable: false,
    meaning: 'An inference call whose inputs do not fit the model (wrong length, empty batch, unknown stage or exit, features from another engine or already released). A bug in the caller, not in the data.',
    action: 'Report it with the message: decoded frames are checked against the model input before they reach the runtime.',
  },
  {
    code: 'EDGEKE_MODEL_SWAP',
    errorClass: 'ModelSwapError',
    module: 'src/pipeline/model-swap-error.ts',
    retryable: false,
    meaning: 'A replaced model folder, or a model a flow was pointed at, could not be swapped in: it did not load, changed while it was read, takes another input or classes than the model it would replace, or failed its validation run. The old model keeps serving; `edgeke_model_swaps_total{result="failed",reason}` counts it.',
    action: 'Fix the folder named in the message (copy a complete model, write manifest.json last or rename the folder into place); a folder that changes again is tried again. To change input or classes, restart the flow.',
  },
  {
    code: 'EDGEKE_DATASET',
    errorClass: 'DatasetError',
    module: 'src/model/errors.ts',
    retryable: false,
    meaning: 'The test split `edgeke eval` needs cannot be found or read.',
    action: 'Point `edgeke eval` at the data (EDGEKE_DATASETS, or the samples under data/) or fix the file named in the message.',
  },
  {
    code: 'EDGEKE_DECODE',
    errorClass: 'DecodeError',
    module: 'src/decode/decode-error.ts',
    retryable: false,
    meaning: 'A payload could not become a frame (its `reason`: payload-too-large, wrong-payload-kind, bad-json, missing-field, bad-field-type, bad-base64, bad-image, wrong-shape, non-finite, internal). The frame ends as an `error` outcome with that reason and is counted; the stream goes on.',
    action: "Fix the device's payload to match the flow's `decode` and the model input (docs/flows.md); the reason in InfluxDB and the metrics says what was wrong.",
  },
  {
    code: 'EDGEKE_CONTROL_MODEL',
    errorClass: 'ControlError',
    module: 'src/control/control-error.ts',
    retryable: false,
    meaning: "The model's exits do not match what the controller needs (no exits, exit indices out of order, an exit on a stage that does not exist, an unknown exit asked for). Raised when a flow starts or reloads.",
    action: "Fix the model's manifest (exits and stages) and restart or reload the flow.",
  },
  {
    code: 'EDGEKE_CONTROL_PROFILE',
    errorClass: 'ControlError',
    module: 'src/control/control-error.ts',
    retryable: false,
    meaning: 'The latency profile is empty, has an entry with non-finite or negative figures, or misses a stage.',
    action: 'Measure the profile again: `edgeke profile <model-dir> --refresh`.',
  },
  {
    code: 'EDGEKE_CONTROL_STAGE',
    errorClass: 'ControlError',
    module: 'src/control/control-error.ts',
    retryable: false,
    meaning: 'A stage timing or prediction was asked for a stage the latency profile does not have (the profile belongs to another model).',
    action: 'Measure the profile for this model: `edgeke profile <model-dir> --refresh`.',
  },
  {
    code: 'EDGEKE_CONTROL_OPTIONS',
    errorClass: 'ControlError',
    module: 'src/control/control-error.ts',
    retryable: false,
    meaning: 'The planner or the latency estimator was given settings it cannot plan with (maxBatch or queueCapacity below 1, an estimator rate outside (0, 1]).',
    action: "Fix the flow's `batching.maxBatch` and `limits.queueCapacity`; `edgeke check` reports values out of range.",
  },
  {
    code: 'EDGEKE_SOURCE_REFUSED',
    errorClass: 'SourceError',
    module: 'src/sources/source-errors.ts',
    retryable: false,
    meaning: 'The MQTT broker or OPC UA server refused us in a way retrying will not fix: bad credentials, not authorised, a refused subscription or identity. Ends the flow\'s stream.',
    action: "Fix the credentials, ACLs or topic in the flow's `source`, or trust the server certificate (src/sources/README.md), then restart the flow.",
  },
  {
    code: 'EDGEKE_SOURCE_UNAVAILABLE',
    errorClass: 'SourceError',
    module: 'src/sources/source-errors.ts',
    retryable: true,
    meaning: 'The connection to the broker or server dropped or could not be opened; the source reconnects on its own and unacknowledged messages are redelivered.',
    action: 'Nothing, if it clears; otherwise check that the broker or server is up and reachable (/readyz shows `<flow>:source` not connected).',
  },
  {
    code: 'EDGEKE_INFLUX_UNAVAILABLE',
    errorClass: 'InfluxWriteError',
    module: 'src/sinks/sink-errors.ts',
    retryable: true,
    meaning: 'A write to InfluxDB failed for a reason that can pass (network error, timeout, HTTP 5xx, 408, 429). Points stay buffered (in memory, then in the spill store) and are retried with capped backoff.',
    action: 'Nothing, if it clears; otherwise bring InfluxDB back. Watch the sink buffer metrics; set `sinks.influx.spillDir` to ride out long outages.',
  },
  {
    code: 'EDGEKE_INFLUX_REJECTED',
    errorClass: 'InfluxWriteError',
    module: 'src/sinks/sink-errors.ts',
    retryable: false,
    meaning: 'InfluxDB refused a batch (HTTP 4xx other than 408/429: unknown database, no permission, bad points); retrying the same batch cannot succeed. Its points are dropped and counted (reason `rejected`).',
    action: "Fix the database, retention policy or credentials in the flow's `sinks.influx`; the message carries InfluxDB's answer.",
  },
  {
    code: 'EDGEKE_INFLUX_INVALID_POINT',
    errorClass: 'InvalidPointError',
    module: 'src/sinks/sink-errors.ts',
    retryable: false,
    meaning: 'A result cannot be written as line protocol (an empty tag, a tag with a line break or a trailing backslash, a non-finite field, a string field over 64 KiB). Dropped and counted (reason `invalid`), never retried.',
    action: 'Fix the value named in the message (usually a flow name or class name in the manifest).',
  },
  {
    code: 'EDGEKE_SINK_CLOSED',
    errorClass: 'SinkClosedError',
    module: 'src/sinks/sink-errors.ts',
    retryable: false,
    meaning: 'A write reached a sink after it was closed (the flow is stopping or was reloaded).',
    action: 'Nothing: a result that was not stored is not acknowledged, so a QoS 1 message is delivered again (to the flow that replaces this one).',
  },
  {
    code: 'EDGEKE_MQTT_PUBLISH',
    errorClass: 'MqttPublishError',
    module: 'src/sinks/sink-errors.ts',
    retryable: true,
    meaning: 'Publishing a result to the MQTT results topic failed (broker down, not connected); the publisher may retry.',
    action: 'Nothing, if it clears; otherwise check the broker of `sinks.mqtt`.',
  },
  {
    code: 'EDGEKE_TRAINING_TOOLKIT',
    errorClass: 'TrainingToolkitError',
    module: 'src/cli/training-python.ts',
    retryable: false,
    meaning: '`edgeke train` found no Python interpreter that imports the training toolkit and its packages (torch, onnx, numpy, PIL, matplotlib); the message lists each interpreter tried and why it failed.',
    action: 'Install the Debian packages (`apt-get install python3-torch python3-onnx python3-pil python3-matplotlib`) or set EDGEKE_PYTHON to an interpreter that has them (training/README.md).',
  },
];

const escapeCell = (text: string): string => text.replaceAll('|', '\\|');

/** docs/errors.md, generated: `npm run docs:errors`. */
export function renderErrorDocs(): string {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from src/errors-catalogue.ts by `npm run docs:errors`; edit that file, not this one. -->',
    '',
    'Every error EdgeKE raises on purpose carries a stable `code` (in logs and command output) and a `retryable`',
    'flag: whether the same operation can succeed later (EdgeKE then retries on its own, with capped exponential',
    'backoff) or cannot until someone changes something. Codes are never renamed.',
    '',
    '| code | retryable | meaning | what to do | class |',
    '| --- | --- | --- | --- | --- |',
    ...ERROR_CATALOGUE.map((entry) =>
      [
        '',
        `\`${entry.code}\``,
        entry.retryable ? 'yes' : 'no',
        escapeCell(entry.meaning),
        escapeCell(entry.action),
        `${entry.errorClass} (${entry.module.split(', ').map((module) => `\`${module}\``).join(', ')})`,
        '',
      ].join(' | ').trim(),
    ),
    '',
  ];
  return lines.join('\n');
}

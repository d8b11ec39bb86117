/**
 * The device clock rule's settings and their defaults (src/pipeline/device-clocks.ts applies the rule; the flow
 * schema's `clocks` section documents them). Here, in layer 0, so the schema and the rule read one set of defaults.
 */

/**
 * How a flow tells its devices apart when it estimates their clock skew:
 * - `topic`: by message origin, the MQTT topic (or OPC UA node) a frame arrived on;
 * - `id-prefix`: by the frame id up to its last `idPrefixSeparator` (`cam7-000123` → `cam7`), for devices that share
 *   a topic; an id without the separator falls back to the origin. (A frame its device sent without an id gets a
 *   generated `<flow>-<n>` id, so such frames share the device `<flow>`.)
 */
export const DEVICE_KEYS = ['topic', 'id-prefix'] as const;
export type DeviceKey = (typeof DEVICE_KEYS)[number];

export const DEVICE_CLOCK_DEFAULTS = {
  deviceKey: 'topic' as DeviceKey,
  idPrefixSeparator: '-',
  /** A capture time later than the receive time by more than this is not trusted (NTP jitter stays within it). */
  futureToleranceMs: 50,
  /** A device whose skew estimate passes this is logged (and again when it is back within half of it). */
  logThresholdMs: 250,
  /** Devices estimated separately per flow; the rest share one estimate, `other`. */
  maxDevices: 256,
  /** Recent frames per device the estimate is taken over. */
  window: 64,
} as const;

/**
 * The flow file's `clocks` block: how devices are told apart for their clock skew and when a capture time is trusted.
 * src/pipeline/device-clocks.ts applies the rule; its settings, defaults and zod piece live here, in layer 0, because
 * the flow schema (src/flows) may not import the pipeline.
 */
import { z } from 'zod';
import { doc, nonNegativeInt, positiveInt } from './field-doc.ts';
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

export const clocksSchema = z
  .object({
    deviceKey: doc(
      z.enum(DEVICE_KEYS).default(DEVICE_CLOCK_DEFAULTS.deviceKey),
      "How devices are told apart for their clock skew (metric edgeke_device_clock_skew_seconds, label device; InfluxDB field device of each frame): topic (the MQTT topic or OPC UA node a frame came on) or id-prefix (the frame id up to its last idPrefixSeparator, for devices sharing a topic; an id without it falls back to the topic; frames the device sent without an id get <flow>-<n> ids, so they share the device <flow>).",
      'id-prefix',
    ),
    idPrefixSeparator: doc(
      z.string().min(1).max(8).default(DEVICE_CLOCK_DEFAULTS.idPrefixSeparator),
      'With deviceKey id-prefix: the device is the frame id up to the last occurrence of this (cam7-000123 -> cam7).',
      '-',
    ),
    futureToleranceMs: doc(
      nonNegativeInt().default(DEVICE_CLOCK_DEFAULTS.futureToleranceMs),
      'A capture time later than the receive time by more than this is not trusted: the receive time stands in (counted). Within it (NTP jitter) latencies are clamped at 0.',
      50,
    ),
    logThresholdMs: doc(
      positiveInt().default(DEVICE_CLOCK_DEFAULTS.logThresholdMs),
      "A device whose estimated skew passes this is logged (once, and again when it is back within half of it).",
      250,
    ),
  })
  .strict();

export type ClocksConfig = z.infer<typeof clocksSchema>;

import type { Logger } from 'pino';
import { DEVICE_CLOCK_DEFAULTS, type DeviceKey } from '../config/device-clocks-config.ts';
import type { Frame } from '../core/frame.ts';

export { DEVICE_CLOCK_DEFAULTS };

/**
 * The clock rule of a flow. Devices stamp their frames with their own clocks, and those drift.
 *
 * - A capture time later than the receive time by more than `futureToleranceMs` is impossible, so it is not trusted:
 *   the receive time stands in (captureTsSource 'receive') and it is counted. Within the tolerance (NTP jitter)
 *   the device time is kept and the latencies computed from it are clamped at 0 (counted too): latencies are never
 *   negative.
 * - A capture time in the past is kept: a stale frame (a device clock behind, or a frame held up on the way) still
 *   follows the flow's late policy. Its deadline counts from the time the device claims.
 * - Each device's skew is estimated online from (capture − receive) over its recent frames: transit only ever adds
 *   to receive time, so the largest values (a high quantile, robust to a stray one) are the frames that travelled
 *   fastest, and their offset is the device clock's own. Positive: the device clock is ahead. Exported per device,
 *   written with every result, and logged when it crosses `logThresholdMs` (and when it comes back).
 *
 * A device is the message origin (MQTT topic or OPC UA node) by default, or, with `deviceKey: 'id-prefix'`, the frame
 * id up to its last `idPrefixSeparator` (devices sharing one topic); so one flow can hold many devices. Past
 * `maxDevices` the rest share one estimate, 'other' (bounded memory and metric series against a device that invents
 * topics or ids).
 */
export interface DeviceClockOptions {
  deviceKey?: DeviceKey;
  idPrefixSeparator?: string;
  futureToleranceMs?: number;
  logThresholdMs?: number;
  maxDevices?: number;
  /** Recent frames per device the estimate is taken over. */
  window?: number;
  logger: Logger;
  events?: DeviceClockEvents;
}

/** What the clock rule reports (metrics). */
export interface DeviceClockEvents {
  /** A device's skew estimate changed (ms, positive = device clock ahead of ours). */
  onSkew?: (device: string, skewMs: number) => void;
  /** A capture time ahead of the receive time by more than the tolerance: the receive time stands in. */
  onUntrusted?: () => void;
  /** A negative latency (capture time just ahead, within the tolerance) was clamped to 0. */
  onClamped?: () => void;
}

/** The quantile of (capture − receive) taken as the skew: near the top, yet a single outlier cannot set it. */
const SKEW_QUANTILE = 0.9;
export const OTHER_DEVICES = 'other';

/** One frame's observation: the estimate it was attributed to (its device key, or `other`) and that estimate now. */
export interface DeviceSkew {
  device: string;
  skewMs: number;
}

/** The last `size` offsets, in arrival order and kept sorted (one insert and one removal per frame, no sort). */
class SkewWindow {
  private readonly offsets: number[] = [];
  private readonly sorted: number[] = [];
  private next = 0;
  flagged = false;
  skewMs = 0;
  /** The estimate last reported to onSkew (a gauge: reported when it changes, not for every frame). */
  reported: number | undefined;

  constructor(private readonly size: number) {}

  observe(offsetMs: number): number {
    if (this.offsets.length < this.size) this.offsets.push(offsetMs);
    else {
      const leaving = this.offsets[this.next] as number;
      this.offsets[this.next] = offsetMs;
      this.sorted.splice(lowerBound(this.sorted, leaving), 1);
    }
    this.next = (this.next + 1) % this.size;
    this.sorted.splice(lowerBound(this.sorted, offsetMs), 0, offsetMs);
    this.skewMs = this.sorted[Math.min(this.sorted.length - 1, Math.floor(SKEW_QUANTILE * this.sorted.length))] as number;
    return this.skewMs;
  }
}

/** The first index of `sorted` whose value is not below `value`. */
function lowerBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((sorted[middle] as number) < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

export class DeviceClocks {
  private readonly futureToleranceMs: number;
  private readonly logThresholdMs: number;
  private readonly maxDevices: number;
  private readonly window: number;
  private readonly deviceKey: DeviceKey;
  private readonly idPrefixSeparator: string;
  private readonly devices = new Map<string, SkewWindow>();

  constructor(private readonly options: DeviceClockOptions) {
    this.futureToleranceMs = options.futureToleranceMs ?? DEVICE_CLOCK_DEFAULTS.futureToleranceMs;
    this.logThresholdMs = options.logThresholdMs ?? DEVICE_CLOCK_DEFAULTS.logThresholdMs;
    this.maxDevices = options.maxDevices ?? DEVICE_CLOCK_DEFAULTS.maxDevices;
    this.window = options.window ?? DEVICE_CLOCK_DEFAULTS.window;
    this.deviceKey = options.deviceKey ?? DEVICE_CLOCK_DEFAULTS.deviceKey;
    this.idPrefixSeparator = options.idPrefixSeparator ?? DEVICE_CLOCK_DEFAULTS.idPrefixSeparator;
  }

  /** The device a frame comes from, by the flow's `deviceKey`: its origin, or its id's prefix (else its origin). */
  deviceOf(origin: string, id: string | undefined): string {
    if (this.deviceKey !== 'id-prefix' || id === undefined) return origin;
    const end = id.lastIndexOf(this.idPrefixSeparator);
    return end > 0 ? id.slice(0, end) : origin;
  }

  /** The capture time the rule trusts, without counting anything (for checks made before a frame is settled). */
  trustedCaptureTs(claimedTs: number | undefined, receivedTs: number): number {
    return claimedTs === undefined || claimedTs > receivedTs + this.futureToleranceMs ? receivedTs : claimedTs;
  }

  /** Applies the rule to a claimed capture time (counting an untrusted one). */
  judge(claimedTs: number | undefined, receivedTs: number): { captureTs: number; captureTsSource: Frame['captureTsSource'] } {
    if (claimedTs === undefined) return { captureTs: receivedTs, captureTsSource: 'receive' };
    if (claimedTs > receivedTs + this.futureToleranceMs) {
      this.options.events?.onUntrusted?.();
      return { captureTs: receivedTs, captureTsSource: 'receive' };
    }
    return { captureTs: claimedTs, captureTsSource: 'device' };
  }

  /**
   * Adds one frame's (capture − receive) to its device's estimate; returns the device it was attributed to and the
   * estimate (ms). Once per frame. `id`: the id the device gave the frame (not one made up for it), for
   * `deviceKey: 'id-prefix'`.
   */
  observe(origin: string, claimedTs: number, receivedTs: number, id?: string): DeviceSkew {
    const key = this.deviceOf(origin, id);
    const device = this.devices.has(key) || this.devices.size < this.maxDevices ? key : OTHER_DEVICES;
    let clock = this.devices.get(device);
    if (clock === undefined) {
      clock = new SkewWindow(this.window);
      this.devices.set(device, clock);
    }
    const skewMs = clock.observe(claimedTs - receivedTs);
    if (skewMs !== clock.reported) {
      clock.reported = skewMs;
      this.options.events?.onSkew?.(device, skewMs);
    }
    if (!clock.flagged && Math.abs(skewMs) > this.logThresholdMs) {
      clock.flagged = true;
      this.options.logger.warn(
        { device, skewMs: Math.round(skewMs), thresholdMs: this.logThresholdMs },
        skewMs > 0 ? 'device clock ahead of ours: its future capture times are replaced by receive times' : 'device clock behind ours (or a slow link): its frames count as stale',
      );
    } else if (clock.flagged && Math.abs(skewMs) <= this.logThresholdMs / 2) {
      clock.flagged = false;
      this.options.logger.info({ device, skewMs: Math.round(skewMs) }, 'device clock back in step');
    }
    return { device, skewMs };
  }

  /** The current estimate of a device (by its key, see deviceOf), in ms, if it sent any capture time. */
  skewMs(device: string): number | undefined {
    return (this.devices.get(device) ?? (this.devices.size >= this.maxDevices ? this.devices.get(OTHER_DEVICES) : undefined))?.skewMs;
  }

  /** A latency that a capture time just ahead (within the tolerance) made negative, clamped to 0 and counted. */
  nonNegative(latencyMs: number): number {
    if (latencyMs >= 0 || !Number.isFinite(latencyMs)) return latencyMs;
    this.options.events?.onClamped?.();
    return 0;
  }
}

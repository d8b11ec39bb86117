import { availableParallelism } from 'node:os';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { LatencyModel } from '../control/index.ts';
import { readManifest } from '../model/manifest.ts';
import { startCameraSimulator } from '../simulators/camera-simulator.ts';
import type { LoadProfile } from '../simulators/load-profile.ts';
import {
  answeredFrames,
  BURST_SHAPE,
  burstRateFloor,
  burstSearchSettled,
  cameraLoadFromCosts,
  chosenBurstRate,
  judgeProbe,
  MAX_PROBES,
  nextBurstRate,
  outcomeBetween,
  perFrameCostByExit,
  settledFrames,
  type CameraCounts,
  type CameraLoad,
  type ProbeOutcome,
} from './camera-load.ts';
import { CAMERA_TOPIC } from './device-simulators.ts';

export interface CalibrationOptions {
  mqttUrl: string;
  /** The camera flow's latency model (profiled at start) and largest batch. */
  latencyModel: LatencyModel;
  maxBatch: number;
  modelPath: string;
  /** The camera flow's outcomes and exits so far (zeros before its first frame). */
  cameraCounts: () => CameraCounts;
  logger: Logger;
}

/** A rate every machine that runs the demo at all sustains from the deepest exit: the first, rough measurement. */
const ROUGH_RATE = 25;
/** Ids of the calibration frames start with this (in the results and telemetry; the summary counts them by capture time). */
const CALIBRATION_ID_PREFIX = 'calibration';
const BASELINE_WINDOWS = 4;
const BASELINE_WINDOW_MS = 250;
/** Start-up work (an OPC UA client making its certificate, the JIT) can stall the service for seconds: wait it out. */
const KEEP_UP_WINDOW_MS = 500;
const KEEP_UP_SHARE = 0.8;
const KEEP_UP_MAX_MS = 10_000;
const ROUGH_MEASURE_MS = 1_500;
const FINAL_SETTLE_MS = 500;
const FINAL_MEASURE_MS = 2_000;


/**
 * A trial burst is shaped like the run's: steady load at a quarter of its rate first, then the burst, measured from
 * PROBE_SETTLE_MS into it to its end. A burst from idle, measured 1.5 s, once judged 292 fr/s a fit (50% from a
 * shallower exit) that the run then answered 77% from the deepest exit: in steady state the batches grow and the
 * deepest exit goes further than in a burst's first second.
 */
const PROBE_LEAD_MS = 1_500;
const PROBE_BURST_MS = 3_000;
const PROBE_SETTLE_MS = 500;
/**
 * After a trial burst, until no camera frame got an outcome for this long (at most PROBE_DRAIN_MAX_MS): what it
 * left queued (in the broker, at intake) is done before the next try, which it once made look twice as heavy.
 */
const PROBE_QUIET_MS = 300;
const PROBE_DRAIN_MAX_MS = 5_000;

/** CPU and main-thread (event loop) time per ms of wall time, or per frame. */
interface Usage {
  cpuMs: number;
  mainMs: number;
}

function usageSince(cpuBefore: NodeJS.CpuUsage, eluBefore: EventLoopUtilization): Usage {
  const cpu = process.cpuUsage(cpuBefore);
  return { cpuMs: (cpu.user + cpu.system) / 1_000, mainMs: performance.eventLoopUtilization(eluBefore).active };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Measures what one camera frame costs this process end to end (broker, JSON, decode, model, sinks: the demo runs
 * them all in one process): the CPU time of all threads and the busy time of the main thread (the event loop), each
 * divided by the frames answered, less what the process spends without the camera (measured just before). A
 * model-only estimate was several times too optimistic (the broker and JSON cost more than the model); CPU time alone
 * was too pessimistic (decoding and inference run on other threads, in parallel with the main thread).
 *
 * Twice: roughly at a rate every machine sustains, then at the deepest exit's capacity that first measurement
 * implies. The cost of a frame falls with the rate (timers, wake-ups and batch overhead are shared by more frames):
 * measured at 25 fr/s only, it put the bursts below what the deepest exit sustained, and every frame was answered
 * from it. Each measurement starts once the service keeps up with the camera: start-up work once stalled the first
 * three seconds, and one frame answered made the demo run at 1 fr/s.
 */
export async function calibrateCameraLoad(options: CalibrationOptions): Promise<CameraLoad> {
  // The least of a few short windows: start-up work (an OPC UA client making its certificate) would inflate one.
  const idle: Usage = { cpuMs: Number.POSITIVE_INFINITY, mainMs: Number.POSITIVE_INFINITY };
  for (let window = 0; window < BASELINE_WINDOWS; window++) {
    const cpuBefore = process.cpuUsage();
    const eluBefore = performance.eventLoopUtilization();
    const startedAt = performance.now();
    await sleep(BASELINE_WINDOW_MS);
    const used = usageSince(cpuBefore, eluBefore);
    const wallMs = performance.now() - startedAt;
    idle.cpuMs = Math.min(idle.cpuMs, used.cpuMs / wallMs);
    idle.mainMs = Math.min(idle.mainMs, used.mainMs / wallMs);
  }
  const classes = (await readManifest(options.modelPath)).classes;
  const cores = availableParallelism();
  const rough = await measureFrameCost(options, { rate: ROUGH_RATE, idPrefix: `${CALIBRATION_ID_PREFIX}-rough`, classes, idle, settleMs: 0, measureMs: ROUGH_MEASURE_MS });
  const roughLoad = cameraLoadFromMeasuredCost(options.latencyModel, options.maxBatch, rough, cores);
  const finalRate = Math.max(ROUGH_RATE, Math.round(roughLoad.capacityByExit.at(-1) as number));
  const final = await measureFrameCost(options, { rate: finalRate, idPrefix: `${CALIBRATION_ID_PREFIX}-final`, classes, idle, settleMs: FINAL_SETTLE_MS, measureMs: FINAL_MEASURE_MS });
  options.logger.info({ rough, final, finalRate, idle }, 'camera frame cost measured');
  const load = cameraLoadFromMeasuredCost(options.latencyModel, options.maxBatch, final, cores);
  // The costs put the burst within a factor of about 1.5 of where it should be (the load of the other processes on
  // the machine moves them): a few trial bursts, from there, find a rate that makes the deepest exit give way while
  // the flow stays on time.
  const tries: ProbeOutcome[] = [];
  const floor = burstRateFloor(load);
  let rate = Math.max(floor, load.baseRate * load.factor);
  for (let attempt = 1; attempt <= MAX_PROBES; attempt++) {
    const outcome = await probeBurst(options, rate, `${CALIBRATION_ID_PREFIX}-burst${attempt}`, classes);
    tries.push(outcome);
    options.logger.info({ ...outcome, verdict: judgeProbe(outcome) }, 'trial burst');
    if (burstSearchSettled(tries)) break;
    const next = Math.max(floor, nextBurstRate(tries));
    // The search would go below the floor again: nothing left to learn.
    if (tries.some((tried) => tried.rate === next)) break;
    rate = next;
  }
  return { ...load, baseRate: Math.max(1, Math.round(Math.max(floor, chosenBurstRate(tries)) / load.factor)) };
}

/** One trial burst at `rate`: how the camera flow did on its frames. */
async function probeBurst(options: CalibrationOptions, rate: number, idPrefix: string, classes: string[]): Promise<ProbeOutcome> {
  const profile: LoadProfile = { kind: 'bursts', factor: BURST_SHAPE.factor, burstMs: PROBE_BURST_MS, everyMs: 2 * (PROBE_LEAD_MS + PROBE_BURST_MS), firstBurstAtMs: PROBE_LEAD_MS };
  const camera = await startCamera(options, { rate: rate / BURST_SHAPE.factor, profile, idPrefix, classes });
  let before: CameraCounts;
  try {
    await sleep(PROBE_LEAD_MS + PROBE_SETTLE_MS);
    before = options.cameraCounts();
    await sleep(PROBE_BURST_MS - PROBE_SETTLE_MS);
  } finally {
    await camera.stop();
  }
  const drainUntil = performance.now() + PROBE_DRAIN_MAX_MS;
  let after = options.cameraCounts();
  for (;;) {
    await sleep(PROBE_QUIET_MS);
    const now = options.cameraCounts();
    if (settledFrames(now) === settledFrames(after) || performance.now() > drainUntil) break;
    after = now;
  }
  return outcomeBetween(rate, before, after, options.latencyModel.stageCount);
}

function startCamera(options: CalibrationOptions, camera: { rate: number; profile?: LoadProfile; idPrefix: string; classes: string[] }): ReturnType<typeof startCameraSimulator> {
  return startCameraSimulator({
    url: options.mqttUrl,
    topic: CAMERA_TOPIC,
    protocolVersion: 4,
    format: 'json',
    imagesFolder: 'data/neu-surface/test',
    classes: camera.classes,
    ratePerSecond: camera.rate,
    ...(camera.profile === undefined ? {} : { profile: camera.profile }),
    idPrefix: camera.idPrefix,
    clientId: `edgeke-demo-${camera.idPrefix}`,
    logger: options.logger.child({ component: 'camera-calibration' }),
  });
}

interface Measurement {
  rate: number;
  idPrefix: string;
  classes: string[];
  /** Usage per ms of wall time without the camera. */
  idle: Usage;
  settleMs: number;
  measureMs: number;
}

/** Per-frame usage with the camera at `rate`, measured once the service keeps up with it. */
async function measureFrameCost(options: CalibrationOptions, measurement: Measurement): Promise<Usage> {
  const camera = await startCamera(options, measurement);
  try {
    // Keeping up: most frames published in the last window were answered in it.
    const keepUpUntil = performance.now() + KEEP_UP_MAX_MS;
    for (;;) {
      const published = camera.stats().published;
      const answeredBefore = answeredFrames(options.cameraCounts());
      await sleep(KEEP_UP_WINDOW_MS);
      const sent = camera.stats().published - published;
      if (sent > 0 && answeredFrames(options.cameraCounts()) - answeredBefore >= KEEP_UP_SHARE * sent) break;
      if (performance.now() > keepUpUntil) {
        // Said on the table's warning line: the load that follows is sized from a starved service.
        options.logger.warn({ rate: measurement.rate, published: sent, answered: answeredFrames(options.cameraCounts()) - answeredBefore }, 'the camera flow does not keep up with the calibration camera: the machine is busy, the demo load will be too');
        break;
      }
    }
    await sleep(measurement.settleMs);
    const cpuBefore = process.cpuUsage();
    const eluBefore = performance.eventLoopUtilization();
    const framesBefore = answeredFrames(options.cameraCounts());
    const startedAt = performance.now();
    await sleep(measurement.measureMs);
    const used = usageSince(cpuBefore, eluBefore);
    const wallMs = performance.now() - startedAt;
    const frames = Math.max(1, answeredFrames(options.cameraCounts()) - framesBefore);
    return {
      cpuMs: (used.cpuMs - measurement.idle.cpuMs * wallMs) / frames,
      mainMs: (used.mainMs - measurement.idle.mainMs * wallMs) / frames,
    };
  } finally {
    await camera.stop();
  }
}

/**
 * Per-exit costs from what a frame answered by the deepest exit was measured to cost: the model's share comes from
 * the latency model, the rest (intake, decode, sinks) is the same whatever the exit. A frame's cost is the tighter of
 * two limits: the main thread (one core, whatever the machine has) and all cores together. Pure.
 */
export function cameraLoadFromMeasuredCost(latencyModel: LatencyModel, maxBatch: number, perFrame: Usage, cores: number): CameraLoad {
  const modelOnly = perFrameCostByExit(latencyModel, maxBatch, 0);
  const deepest = modelOnly.at(-1) as number;
  // The model may run on the main thread or beside it: counting it on both is the cautious choice.
  const mainOverhead = Math.max(perFrame.mainMs - deepest, MIN_OVERHEAD_MS);
  const cpuOverhead = Math.max(perFrame.cpuMs - deepest, mainOverhead);
  return cameraLoadFromCosts(modelOnly.map((ms) => Math.max(mainOverhead + ms, (cpuOverhead + ms) / Math.max(1, cores))));
}

/** A floor on the cost outside the model, should a measurement come out near zero (a busy baseline). */
const MIN_OVERHEAD_MS = 0.5;

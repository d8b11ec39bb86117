import { availableParallelism } from 'node:os';
import type { EventLoopUtilization } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { LatencyModel } from '../control/index.ts';
import { readManifest } from '../model/manifest.ts';
import { startCameraSimulator } from '../simulators/camera-simulator.ts';
import { cameraLoadFromCosts, perFrameCostByExit, type CameraLoad } from './camera-load.ts';
import { CAMERA_TOPIC } from './device-simulators.ts';

export interface CalibrationOptions {
  mqttUrl: string;
  /** The camera flow's latency model (profiled at start) and largest batch. */
  latencyModel: LatencyModel;
  maxBatch: number;
  modelPath: string;
  /** Camera frames the service has answered so far (ok and late). */
  answeredCameraFrames: () => number;
  logger: Logger;
}

/** A rate every machine that runs the demo at all sustains from the deepest exit. */
const CALIBRATION_RATE = 25;
const CALIBRATION_MS = 3_000;
const BASELINE_WINDOWS = 4;
const BASELINE_WINDOW_MS = 250;

/** CPU and main-thread (event loop) time per ms of wall time, or per frame. */
interface Usage {
  cpuMs: number;
  mainMs: number;
}

function usageSince(cpuBefore: NodeJS.CpuUsage, eluBefore: EventLoopUtilization): Usage {
  const cpu = process.cpuUsage(cpuBefore);
  return { cpuMs: (cpu.user + cpu.system) / 1_000, mainMs: performance.eventLoopUtilization(eluBefore).active };
}

/**
 * Measures what one camera frame costs this process end to end (broker, JSON, decode, model, sinks: the demo runs
 * them all in one process) by running the camera at a modest rate for a few seconds: the CPU time of all threads and
 * the busy time of the main thread (the event loop), each divided by the frames answered, less what the process
 * spends without the camera (measured just before). A model-only estimate was several times too optimistic (the
 * broker and JSON cost more than the model); CPU time alone was too pessimistic (decoding and inference run on other
 * threads, in parallel with the main thread).
 */
export async function calibrateCameraLoad(options: CalibrationOptions): Promise<CameraLoad> {
  // The least of a few short windows: start-up work (an OPC UA client making its certificate) would inflate one.
  const idle: Usage = { cpuMs: Number.POSITIVE_INFINITY, mainMs: Number.POSITIVE_INFINITY };
  for (let window = 0; window < BASELINE_WINDOWS; window++) {
    const cpuBefore = process.cpuUsage();
    const eluBefore = performance.eventLoopUtilization();
    const startedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, BASELINE_WINDOW_MS));
    const used = usageSince(cpuBefore, eluBefore);
    const wallMs = performance.now() - startedAt;
    idle.cpuMs = Math.min(idle.cpuMs, used.cpuMs / wallMs);
    idle.mainMs = Math.min(idle.mainMs, used.mainMs / wallMs);
  }
  const camera = await startCameraSimulator({
    url: options.mqttUrl,
    topic: CAMERA_TOPIC,
    protocolVersion: 4,
    format: 'json',
    imagesFolder: 'data/neu-surface/test',
    classes: (await readManifest(options.modelPath)).classes,
    ratePerSecond: CALIBRATION_RATE,
    idPrefix: 'calibration',
    clientId: 'edgeke-demo-calibration',
    logger: options.logger.child({ component: 'camera-calibration' }),
  });
  // The first second warms up the JIT, the decoder and the connections: measure after it.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const framesBefore = options.answeredCameraFrames();
  const startedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, CALIBRATION_MS));
  const used = usageSince(cpuBefore, eluBefore);
  const wallMs = performance.now() - startedAt;
  const frames = Math.max(1, options.answeredCameraFrames() - framesBefore);
  await camera.stop();
  const perFrame: Usage = {
    cpuMs: (used.cpuMs - idle.cpuMs * wallMs) / frames,
    mainMs: (used.mainMs - idle.mainMs * wallMs) / frames,
  };
  options.logger.info({ frames, perFrame, idle }, 'camera frame cost measured');
  return cameraLoadFromMeasuredCost(options.latencyModel, options.maxBatch, perFrame, availableParallelism());
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

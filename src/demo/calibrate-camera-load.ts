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
const BASELINE_MS = 1_000;

/**
 * Measures what one camera frame costs this process end to end (broker, JSON, decode, model, sinks: the demo runs
 * them all in one process) by running the camera at a modest rate for a few seconds and dividing the process's CPU
 * time by the frames answered. The per-exit costs then differ by what the latency model says the skipped stages
 * cost. A model-only estimate was several times too optimistic: the broker and JSON cost more than the model.
 * The CPU the process spends without the camera, measured just before, is subtracted.
 */
export async function calibrateCameraLoad(options: CalibrationOptions): Promise<CameraLoad> {
  // What the process spends without the camera (the OPC UA server and flow, timers) is not a camera frame's cost.
  const idleBefore = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, BASELINE_MS));
  const idle = process.cpuUsage(idleBefore);
  const idleCpuMsPerMs = (idle.user + idle.system) / 1_000 / BASELINE_MS;
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
  const framesBefore = options.answeredCameraFrames();
  await new Promise((resolve) => setTimeout(resolve, CALIBRATION_MS));
  const cpu = process.cpuUsage(cpuBefore);
  const frames = options.answeredCameraFrames() - framesBefore;
  await camera.stop();
  const cpuMsPerFrame = ((cpu.user + cpu.system) / 1_000 - idleCpuMsPerMs * CALIBRATION_MS) / Math.max(1, frames);
  options.logger.info({ frames, cpuMsPerFrame, idleCpuMsPerMs }, 'camera frame cost measured');
  return cameraLoadFromMeasuredCost(options.latencyModel, options.maxBatch, cpuMsPerFrame);
}

/**
 * Per-exit costs from one measured cost of a frame answered by the deepest exit: the model's share comes from the
 * latency model, the rest (intake, decode, sinks) is the same whatever the exit. Pure.
 */
export function cameraLoadFromMeasuredCost(latencyModel: LatencyModel, maxBatch: number, cpuMsPerFrame: number): CameraLoad {
  const modelOnly = perFrameCostByExit(latencyModel, maxBatch, 0);
  const deepest = modelOnly.at(-1) as number;
  const overhead = Math.max(cpuMsPerFrame - deepest, 0.05);
  return cameraLoadFromCosts(modelOnly.map((ms) => overhead + ms));
}

import { startMqttReplayPublisher, type ReplayFrame, type ReplayTransportOptions, type RunningReplayPublisher } from './mqtt-replay-publisher.ts';
import { loadLabelledImages, type LabelledImage } from './neu-images.ts';

/**
 * How a camera frame travels: `json` = `{"id","ts","image":"<base64>","label"}` (any broker, incl. aedes / MQTT
 * 3.1.1); `binary` = the image bytes with MQTT 5 user properties `id`, `ts` and `label` (needs an MQTT 5 broker).
 */
export type CameraPayloadFormat = 'json' | 'binary';

export interface CameraSimulatorOptions extends ReplayTransportOptions {
  /** Folder of `<class>/*.jpg`, e.g. data/neu-surface/test; or pass `images` directly. */
  imagesFolder?: string;
  images?: LabelledImage[];
  /** Class names in the model manifest's order: the label sent is the index in this list. */
  classes: string[];
  ratePerSecond: number;
  format?: CameraPayloadFormat;
  /** Frame ids are `<idPrefix>-<seq>` (default 'cam'). */
  idPrefix?: string;
}

export interface CameraEnvelope {
  id: string;
  ts: number;
  image: string;
  label: number;
}

/** Each image is encoded once: at benchmark rates re-encoding every frame was a visible share of the load generator. */
const base64Cache = new WeakMap<LabelledImage, string>();
function base64Of(image: LabelledImage): string {
  let text = base64Cache.get(image);
  if (text === undefined) {
    text = image.bytes.toString('base64');
    base64Cache.set(image, text);
  }
  return text;
}

/** Builds frame `seq` of a replay of `images` (cycling). Pure. */
export function cameraFrame(images: LabelledImage[], seq: number, ts: number, format: CameraPayloadFormat, idPrefix = 'cam'): ReplayFrame {
  const image = images[seq % images.length] as LabelledImage;
  const id = `${idPrefix}-${seq}`;
  if (format === 'binary') {
    return { payload: image.bytes, userProperties: { id, ts: String(ts), label: String(image.label) } };
  }
  const envelope: CameraEnvelope = { id, ts, image: base64Of(image), label: image.label };
  return { payload: JSON.stringify(envelope) };
}

/** An MQTT camera replaying labelled NEU test images at a rate shaped by a load profile. */
export async function startCameraSimulator(options: CameraSimulatorOptions): Promise<RunningReplayPublisher> {
  const images =
    options.images ??
    (options.imagesFolder === undefined ? [] : await loadLabelledImages(options.imagesFolder, options.classes));
  if (images.length === 0) throw new RangeError('camera simulator needs imagesFolder or images');
  const format = options.format ?? (options.protocolVersion === 4 ? 'json' : 'binary');
  if (format === 'binary' && options.protocolVersion === 4) {
    throw new RangeError('binary camera frames carry id and ts as MQTT 5 user properties: use format json with MQTT 3.1.1');
  }
  return startMqttReplayPublisher(
    options,
    (seq, now) => cameraFrame(images, seq, now, format, options.idPrefix),
  );
}

/**
 * The overload benchmark's load generator: its own process (pinned by bench/overload.ts to the core the service does
 * not use), publishing real frames with QoS 1 at a piecewise-constant rate and writing what it offered to a JSON file.
 *
 *   neu:  NEU test JPEGs (data/neu-surface/test) as the payload, frame id and capture time as MQTT 5 user properties
 *         `id` and `ts` (flows/neu-camera.yaml).
 *   cwru: CWRU test windows as JSON {"id", "ts", "values": [2048 samples]} (flows/cwru-mqtt-json.yaml).
 * The true label stays here (it is not sent): accuracy is judged from outside.
 *
 *   node --import tsx bench/lib/overload-loadgen.ts --url mqtt://127.0.0.1:1883 --topic plant/line1/cam1/camera \
 *     --dataset neu --data data/neu-surface/test --classes a,b,... --segments 100:5,400:5 --prefix L1 --out offered.json
 * Also subscribes to `--results-topic` (QoS 0) and counts result messages per id, to see duplicates.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { interleaveByClass, loadCwruTestSplit } from '../../src/simulators/cwru-recordings.ts';
import { loadLabelledImages } from '../../src/simulators/neu-images.ts';
import { VibrationPlayer } from '../../src/simulators/vibration-player.ts';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    topic: { type: 'string' },
    'results-topic': { type: 'string' },
    dataset: { type: 'string', default: 'neu' },
    data: { type: 'string' },
    classes: { type: 'string', default: '' },
    segments: { type: 'string' },
    prefix: { type: 'string', default: 'f' },
    out: { type: 'string' },
    'window-length': { type: 'string', default: '2048' },
  },
});

interface Payload {
  /** Builds the MQTT payload and properties of frame `id` captured at `ts`. */
  make(id: string, ts: number): { payload: Buffer | string; properties?: { userProperties: Record<string, string> } };
  label: number;
}

async function payloads(): Promise<Payload[]> {
  const data = values.data ?? '';
  if (values.dataset === 'neu') {
    const images = await loadLabelledImages(data, (values.classes ?? '').split(','));
    return images.map((image) => ({
      label: image.label,
      make: (id, ts) => ({ payload: image.bytes, properties: { userProperties: { id, ts: String(ts) } } }),
    }));
  }
  if (values.dataset === 'cwru') {
    const split = await loadCwruTestSplit(data);
    const player = new VibrationPlayer({ recordings: interleaveByClass(split.recordings), blockSize: Number(values['window-length']) });
    // A pool of windows, each serialised once: building 2048-number JSON per frame would cost the generator more
    // than the service at high rates. The pool cycles through every recording (class).
    const pool: Payload[] = [];
    const total = split.recordings.reduce((sum, r) => sum + Math.floor(r.samples.length / Number(values['window-length'])), 0);
    for (let i = 0; i < Math.min(total, 4_000); i += 1) {
      const block = player.nextBlock();
      const valuesJson = JSON.stringify(Array.from(block.values));
      pool.push({ label: block.label, make: (id, ts) => ({ payload: `{"id":${JSON.stringify(id)},"ts":${ts},"values":${valuesJson}}` }) });
    }
    return pool;
  }
  throw new Error(`unknown dataset ${values.dataset ?? ''} (neu, cwru)`);
}

interface SegmentSpec {
  fps: number;
  seconds: number;
}

const segments: SegmentSpec[] = (values.segments ?? '').split(',').map((part) => {
  const [fps, seconds] = part.split(':').map(Number);
  if (!(fps !== undefined && fps > 0 && seconds !== undefined && seconds > 0)) throw new Error(`bad segment '${part}' (fps:seconds)`);
  return { fps, seconds };
});

const pool = await payloads();
const client = mqtt.connect(values.url ?? '', { protocolVersion: 5, clientId: `edgeke-overload-loadgen-${process.pid}`, clean: true, reconnectPeriod: 1_000 });
await new Promise<void>((resolve, reject) => {
  client.once('connect', () => resolve());
  client.once('error', reject);
});
const resultCounts = new Map<string, number>();
let resultMessages = 0;
if (values['results-topic'] !== undefined) {
  client.on('message', (_topic, payload) => {
    resultMessages += 1;
    const match = /"id":"([^"]*)"/.exec(payload.toString('utf8', 0, Math.min(payload.length, 200)));
    if (match?.[1] !== undefined) resultCounts.set(match[1], (resultCounts.get(match[1]) ?? 0) + 1);
  });
  await client.subscribeAsync(values['results-topic'], { qos: 0 });
}

const ts: number[] = [];
const labels: number[] = [];
const acked: boolean[] = [];
const ackMs: number[] = [];
let failed = 0;
let inFlight = 0;
let skipped = 0;
// Messages published and not yet PUBACKed sit in the MQTT client's memory: when the broker's core falls behind (CWRU
// at 8x, ~7,000 windows of 20 kB a second), an unbounded queue ran this process out of heap. Past this bound a frame is
// skipped like a camera whose uplink is full, counted, and the row says the rig did not keep up.
const MAX_IN_FLIGHT = 4_000;
const segmentStarts: number[] = [];
const prefix = values.prefix ?? 'f';

/** Publishes at the segments' rates: each tick releases the frames the rate has accrued since the last one. */
async function publishAll(): Promise<void> {
  for (const segment of segments) {
    const start = Date.now();
    segmentStarts.push(start);
    const end = start + segment.seconds * 1000;
    let sent = 0;
    while (Date.now() < end) {
      const now = Date.now();
      const due = Math.floor(((now - start) * segment.fps) / 1000) - sent;
      for (let k = 0; k < due; k += 1) {
        if (inFlight >= MAX_IN_FLIGHT) {
          skipped += 1;
          continue;
        }
        const seq = ts.length;
        const item = pool[seq % pool.length] as Payload;
        const id = `${prefix}-${seq}`;
        const capture = Date.now();
        ts.push(capture);
        labels.push(item.label);
        acked.push(false);
        const message = item.make(id, capture);
        inFlight += 1;
        client.publish(values.topic ?? '', message.payload, { qos: 1, ...(message.properties === undefined ? {} : { properties: message.properties }) }, (error) => {
          inFlight -= 1;
          if (error === undefined || error === null) {
            acked[seq] = true;
            ackMs.push(Date.now() - capture);
          } else failed += 1;
        });
      }
      sent += Math.max(0, due);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

await publishAll();
const finishedAt = Date.now();
// Wait for the broker's PUBACKs of what is still in flight (bounded), then for late results.
for (let i = 0; i < 100 && acked.filter(Boolean).length + failed < ts.length; i += 1) await new Promise((resolve) => setTimeout(resolve, 100));
if (values['results-topic'] !== undefined) await new Promise((resolve) => setTimeout(resolve, 1_500));
await client.endAsync();

ackMs.sort((a, b) => a - b);
const quantile = (q: number): number | null => (ackMs.length === 0 ? null : (ackMs[Math.min(ackMs.length - 1, Math.floor(q * ackMs.length))] as number));
let duplicates = 0;
for (const count of resultCounts.values()) if (count > 1) duplicates += 1;
writeFileSync(
  values.out ?? 'offered.json',
  JSON.stringify({
    prefix,
    segments: segments.map((segment, i) => ({ ...segment, startMs: segmentStarts[i] })),
    finishedAt,
    ts,
    labels,
    unacked: acked.reduce((n, ok) => n + (ok ? 0 : 1), 0),
    failed,
    skipped,
    puback_ms: { p50: quantile(0.5), p99: quantile(0.99), max: ackMs.at(-1) ?? null },
    results: values['results-topic'] === undefined ? null : { messages: resultMessages, ids: resultCounts.size, duplicates },
  }),
);

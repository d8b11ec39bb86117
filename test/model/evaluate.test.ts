import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/edgeke.ts';
import { decodeImage } from '../../src/decode/image.ts';
import { readIdx, readIdxImages } from '../../src/model/datasets/idx-images.ts';
import { openTestSet } from '../../src/model/datasets/locate.ts';
import { zscore } from '../../src/model/datasets/signal-segments.ts';
import { DatasetError } from '../../src/model/errors.ts';
import { evaluateModel } from '../../src/model/evaluate.ts';
import { loadModel, type LoadedModel } from '../../src/model/load-model.ts';
import { MultiExitRunner } from '../../src/model/multi-exit-runner.ts';
import { IMAGE_MODEL, randomInputs, SIGNAL_MODEL } from './fixtures.ts';

/**
 * The fixtures have random weights, so the data sets here are labelled with the model's own last-exit predictions:
 * exit 3 must then score exactly 100%, and the other exits must score what the runner says they predict.
 */
const temp = mkdtempSync(join(tmpdir(), 'edgeke-eval-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

function capture(): { stream: NodeJS.WritableStream; text: () => string } {
  const chunks: string[] = [];
  const stream = { write: (c: string) => chunks.push(c) } as unknown as NodeJS.WritableStream;
  return { stream, text: () => chunks.join('') };
}

describe('eval on an image folder', () => {
  let model: LoadedModel;
  const dataDir = join(temp, 'images');
  let expectedExit1 = 0;

  beforeAll(async () => {
    model = await loadModel(IMAGE_MODEL);
    const runner = new MultiExitRunner(model);
    const p = model.manifest.input.preprocessing;
    if (p.kind !== 'image') throw new Error('fixture is an image model');
    let agree = 0;
    for (let i = 0; i < 20; i++) {
      const noise = randomInputs(1, 16 * 16, 100 + i)[0] as Float32Array;
      const png = await sharp(Buffer.from(noise.map((v) => Math.max(0, Math.min(255, 128 + 60 * v)))), { raw: { width: 16, height: 16, channels: 1 } }).png().toBuffer();
      const answer = await runner.run(await decodeImage(png, p));
      const className = model.manifest.classes[answer.output.classIndex] as string;
      if (answer.exits[0]?.classIndex === answer.output.classIndex) agree++;
      mkdirSync(join(dataDir, className), { recursive: true });
      writeFileSync(join(dataDir, className, `img_${i}.png`), png);
    }
    for (const c of model.manifest.classes) mkdirSync(join(dataDir, c), { recursive: true });
    expectedExit1 = agree / 20;
  });
  afterAll(() => model.close());

  it('scores every exit', async () => {
    const evaluation = await evaluateModel(model, await openTestSet(model.dir, model.manifest, { data: dataDir }), { batchSize: 7 });
    expect(evaluation.samples).toBe(20);
    expect(evaluation.exits.map((e) => e.exit)).toEqual([1, 2, 3]);
    expect(evaluation.exits[2]?.accuracy).toBe(1);
    expect(evaluation.exits[0]?.accuracy).toBeCloseTo(expectedExit1, 10);
    expect(evaluation.vote).toBeDefined();
  });

  it('edgeke eval --json prints the per-exit accuracies', async () => {
    const out = capture();
    const err = capture();
    const code = await main(['eval', IMAGE_MODEL, '--split', 'test', '--data', dataDir, '--json'], { stdout: out.stream, stderr: err.stream });
    expect(code).toBe(0);
    const json = JSON.parse(out.text()) as { exits: { exit: number; accuracy: number }[] };
    expect(json.exits[2]).toMatchObject({ exit: 3, accuracy: 1 });
    expect(err.text()).toContain('eval: 20/20');
  });

  it('the tfjs engine scores the same', async () => {
    const out = capture();
    await main(['eval', IMAGE_MODEL, '--data', dataDir, '--json', '--engine', 'tfjs'], { stdout: out.stream, stderr: capture().stream });
    expect((JSON.parse(out.text()) as { exits: { accuracy: number }[] }).exits[2]?.accuracy).toBe(1);
  });

  it('says where it looked when no test split is found', async () => {
    const err = capture();
    const code = await main(['eval', IMAGE_MODEL, '--split', 'test'], { stdout: capture().stream, stderr: err.stream });
    expect(code).toBe(1);
    expect(err.text()).toMatch(/no test split found for model 'tiny-image'.*--data/);
  });
});

describe('eval on signal segments', () => {
  it('cuts windows with the hop, z-scores them and labels them by class name', async () => {
    const model = await loadModel(SIGNAL_MODEL);
    try {
      const dir = join(temp, 'signals');
      mkdirSync(dir, { recursive: true });
      const runner = new MultiExitRunner(model);
      const segments = [];
      for (let i = 0; i < 6; i++) {
        // One 256-sample window per segment (512 samples, hop 300: windows at 0 and... 300 + 256 > 512, so one).
        const samples = randomInputs(1, 512, 50 + i)[0] as Float32Array;
        const answer = await runner.run(zscore(samples.subarray(0, 256)));
        writeFileSync(join(dir, `seg${i}.f32`), Buffer.from(samples.buffer));
        segments.push({ file: `seg${i}.f32`, class: model.manifest.classes[answer.output.classIndex], label: 99 });
      }
      writeFileSync(join(dir, 'index.json'), JSON.stringify({ evaluation: { windowLength: 256, hop: 300 }, segments }));
      const testSet = await openTestSet(model.dir, model.manifest, { data: join(dir, 'index.json') });
      expect(testSet.size).toBe(6);
      const evaluation = await evaluateModel(model, testSet);
      expect(evaluation.exits[2]?.accuracy).toBe(1);
    } finally {
      await model.close();
    }
  });

  it('zscore uses the population std plus 1e-8', () => {
    const out = zscore(Float32Array.from([1, 2, 3, 4]));
    const std = Math.sqrt(1.25);
    expect(Array.from(out)).toEqual([-1.5, -0.5, 0.5, 1.5].map((x) => Math.fround(x / (std + 1e-8))));
  });
});

describe('IDX files', () => {
  it('reads a gzipped IDX image/label pair and normalises like an image', async () => {
    const header = (dims: number[]): Buffer => {
      const b = Buffer.alloc(4 + 4 * dims.length);
      b[2] = 0x08;
      b[3] = dims.length;
      dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
      return b;
    };
    const pixels = Buffer.alloc(2 * 16 * 16, 51);
    writeFileSync(join(temp, 'images.gz'), gzipSync(Buffer.concat([header([2, 16, 16]), pixels])));
    writeFileSync(join(temp, 'labels'), Buffer.concat([header([2]), Buffer.from([4, 1])]));
    const p = { kind: 'image' as const, width: 16, height: 16, channels: 1 as const, resize: 'bilinear' as const, fit: 'fill' as const, scale: 1 / 255, mean: [0.5], std: [0.25] };
    const set = await readIdxImages(join(temp, 'images.gz'), join(temp, 'labels'), 5, p);
    const batches = [];
    for await (const b of set.batches(8)) batches.push(b);
    expect(batches[0]?.labels).toEqual([4, 1]);
    expect(batches[0]?.inputs[0]?.[0]).toBeCloseTo((0.2 - 0.5) / 0.25, 6);
    await expect(readIdxImages(join(temp, 'images.gz'), join(temp, 'labels'), 3, p)).rejects.toThrow(DatasetError);
  });

  it('reads the Fashion-MNIST test images when the Debian package is installed', async (ctx) => {
    const file = '/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz';
    const idx = await readIdx(file).catch(() => undefined);
    if (idx === undefined) ctx.skip();
    expect(idx?.dims).toEqual([10000, 28, 28]);
  });
});

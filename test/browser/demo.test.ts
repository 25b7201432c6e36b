// The demo page (`npm run demo`) in Debian's Chromium, driven by playwright-core through its controls:
// it loads cross-origin isolated with worker threads, trains the spiral until the loss has fallen and
// the accuracy risen, draws a decision boundary, its benchmark tab measures wasm against pure JS, its
// CNN tab trains LeNet-5 in a worker and reads a digit drawn with the mouse, and its Names GPT tab
// trains a character-level GPT in a worker until it beats the bigram, sampling names.
// .ci/run installs chromium; without it these tests are skipped with the reason printed.
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoState } from '../../demo/app.js';
import { EVALUATE_EVERY, NAMES_AT_ONCE } from '../../demo/names-protocol.js';
import { startDemoServer, type DemoServer } from '../../demo/server.js';
import { loadNames, NAMES_BATCH, NAMES_GPT, namesTask } from '../../examples/names-data.js';
import { CHROMIUM, launchChromium } from './serve.js';

const present = existsSync(CHROMIUM);
if (!present) console.warn(`demo page tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does)`);

// CI installs Chromium, so there a missing browser fails this file instead of skipping it.
if (!present && process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: .ci/run should have installed it`);

// Epochs of the spiral before Stop. With the settings below (2-16-16-1 relu, Adam lr 0.03, batches of 32,
// 20 epochs a frame, seed 1) training is deterministic, with the figures Node gets on the relaxed-SIMD
// build: loss 0.71 → 0.135 and accuracy 48% → 96% by epoch 40 (in Node, for seeds 1-8: by epoch 40
// for seven, 440 for one); 300 leaves room and takes well under a second.
const EPOCHS = 300;

describe.skipIf(!present)('the demo page in Chromium', () => {
  let browser: Browser;
  let server: DemoServer;

  beforeAll(async () => {
    server = await startDemoServer();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  // The page loaded and drawn, with every uncaught error it throws collected.
  async function open(): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1150, height: 720 } });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(server.url);
    await page.waitForFunction(() => window.demo?.ready || window.demo?.error !== undefined, undefined, { timeout: 30_000 });
    return { page, errors };
  }

  const demoState = (page: Page): Promise<DemoState> => page.evaluate(() => window.demo);

  it('trains the spiral on a cross-origin isolated page with threads, and draws its decision boundary', async () => {
    const { page, errors } = await open();
    await page.selectOption('#dataset', 'spiral');
    await page.fill('#layers', '16,16');
    await page.press('#layers', 'Enter');
    await page.selectOption('#activation', 'relu');
    await page.selectOption('#speed', '20');
    await page.click('#train');
    await page.waitForFunction((epochs) => window.demo.epoch >= epochs, EPOCHS, { timeout: 30_000 });
    await page.click('#stop');
    await page.waitForFunction(() => !window.demo.training);
    const state = await demoState(page);

    expect(errors).toEqual([]);
    expect(state.error).toBeUndefined();
    expect(await page.evaluate(() => crossOriginIsolated)).toBe(true);
    expect(state.isolated).toBe(true);
    expect(state.backend).toBe('wasm');
    expect(state.threads).toBeGreaterThan(1);
    expect(await page.textContent('#runtime')).toContain(`${state.threads} threads`);
    expect(await page.textContent('#architecture')).toMatch(/^2 → 16 → 16 → 1: relu/);
    // A fresh network says about ½ everywhere: loss near ln 2 ≈ 0.69, accuracy near chance.
    expect(state.initialLoss).toBeGreaterThan(0.6);
    expect(state.initialAccuracy).toBeLessThan(0.65);
    // Trained: from epoch 300 to 1000 (Stop lands at 380-460) the loss is 0.059–0.124 and the accuracy
    // 95.75–98%, wobbling as Adam at lr 0.03 does; a model that has not separated the arms stays near
    // 0.66 and 60% (tanh here plateaus there for hundreds of epochs).
    expect(state.epoch).toBeGreaterThanOrEqual(EPOCHS);
    expect(state.loss).toBeLessThan(0.2);
    expect(state.accuracy).toBeGreaterThanOrEqual(0.93);
    expect(state.samplesPerSecond).toBeGreaterThan(0);
    expect(await page.textContent('#status')).toMatch(new RegExp(`^epoch ${state.epoch} · loss`));

    // The heat map covers the canvas, is drawn in many shades, and both labels' colours hold a large
    // share of it (the spiral's arms are about half the plane each).
    const pixels = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('#boundary')!;
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const colours = new Set<number>();
      let transparent = 0;
      let blue = 0;
      let orange = 0;
      for (let i = 0; i < data.length; i += 4) {
        colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
        if (data[i + 3] === 0) transparent++;
        if (data[i + 2] > data[i] + 40) blue++;
        else if (data[i] > data[i + 2] + 40) orange++;
      }
      return { count: data.length / 4, colours: colours.size, transparent, blue, orange };
    });
    expect(pixels.transparent).toBe(0);
    expect(pixels.colours).toBeGreaterThan(100);
    expect(pixels.blue / pixels.count).toBeGreaterThan(0.2);
    expect(pixels.orange / pixels.count).toBeGreaterThan(0.2);

    // The screenshot of the canvas: a blank 400 × 400 one measured 1.6 KB, this one 92–96 KB.
    const path = join(tmpdir(), 'simdprop-demo-boundary.png');
    const png = await page.locator('#boundary').screenshot({ path });
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(20_000);
    await page.close();
  });

  it('measures wasm faster than pure JS on the 784-128-10 benchmark tab', async () => {
    const { page, errors } = await open();
    await page.click('#tab-benchmark');
    expect(await page.isVisible('#playground')).toBe(false);
    await page.fill('#bench-seconds', '1');
    await page.click('#bench-run');
    await page.waitForFunction(() => window.demo.benchmark.done || window.demo.error !== undefined, undefined, { timeout: 30_000 });
    const { benchmark, error } = await demoState(page);
    expect(errors).toEqual([]);
    expect(error).toBeUndefined();
    // Measured 9× to 40× on this shared two-core machine (README: 30× for one SIMD thread against the
    // pure-JS twin in Node); below 3× the wasm backend would not be doing its job.
    expect(benchmark.js).toBeGreaterThan(0);
    expect(benchmark.wasm / benchmark.js).toBeGreaterThan(3);
    expect(await page.textContent('#bench-ratio')).toMatch(/pure JS: \d+\.\d×$/);
    await page.close();
  });

  // 4 epochs of 2,000 digits in batches of 32: 252 steps, 3–6 s here.
  const CNN_EPOCHS = 4;
  const CNN_STEPS = CNN_EPOCHS * Math.ceil(2000 / 32);

  it('trains LeNet-5 in a worker on the CNN tab, with a live loss curve, and reads a digit drawn on its pad', async () => {
    const { page, errors } = await open();
    await page.click('#tab-cnn');
    expect(await page.isVisible('#playground')).toBe(false);
    expect(await page.isVisible('#cnn-pad')).toBe(true);
    await page.selectOption('#cnn-digits', '2000');
    await page.fill('#cnn-epochs', String(CNN_EPOCHS));
    await page.fill('#cnn-batch', '32');
    // The page's main thread stays free while the worker trains: the longest gap between 10 ms timer
    // ticks from Train to the end was 100–190 ms with this test alone (each epoch's copy of the digits,
    // the model coming back), 825 ms in the full suite with the two cores shared by five processes;
    // decoding the digits with Float32Array.from instead of a loop held it for 750 ms alone.
    await page.evaluate(() => {
      const watch = { last: performance.now(), longestGap: 0 };
      (window as unknown as { watch: typeof watch }).watch = watch;
      setInterval(() => {
        const now = performance.now();
        watch.longestGap = Math.max(watch.longestGap, now - watch.last);
        watch.last = now;
      }, 10);
    });
    await page.click('#cnn-train');
    await page.waitForFunction(() => window.demo.cnn.training && window.demo.cnn.curvePoints >= 2 || window.demo.error !== undefined, undefined, { timeout: 30_000 });
    const earlyStatus = await page.textContent('#cnn-status');
    await page.waitForFunction(() => !window.demo.cnn.training || window.demo.error !== undefined, undefined, { timeout: 60_000 });
    const { cnn, error } = await demoState(page);
    const longestGap = await page.evaluate(() => (window as unknown as { watch: { longestGap: number } }).watch.longestGap);
    console.log(`CNN tab: loss ${cnn.firstLoss.toFixed(3)} → ${cnn.loss.toFixed(3)}, held-out accuracy ${(100 * cnn.heldOutAccuracy).toFixed(1)}%, `
      + `${Math.round(cnn.samplesPerSecond)} samples/s on ${cnn.curvePoints} points; longest main-thread gap ${longestGap.toFixed(0)} ms`);

    expect(errors).toEqual([]);
    expect(error).toBeUndefined();
    expect(longestGap).toBeLessThan(2000);
    expect(cnn.worker).toMatch(/^wasm /);
    expect(cnn.weights).toBe('trained');
    expect(cnn.epoch).toBeCloseTo(CNN_EPOCHS, 9);
    expect(cnn.steps).toBe(CNN_STEPS);
    // A fresh network's loss on 10 classes is about ln 10 ≈ 2.3 (its first batch: 2.489); the last batch
    // loss reported after 252 steps was 0.08–0.17 (which batch is last reported depends on timing) and
    // the held-out accuracy 92.7% (training is seeded: the same bits every run on one machine).
    expect(cnn.firstLoss).toBeGreaterThan(1.8);
    expect(cnn.loss).toBeLessThan(0.8);
    expect(cnn.heldOutAccuracy).toBeGreaterThan(0.9);
    expect(cnn.samplesPerSecond).toBeGreaterThan(0);
    // Progress arrives at most every 100 ms: a point per batch event and one per epoch. At ~2,800
    // samples/s 26–37 points were seen; since the convolutions read their windows in place (~13,000
    // samples/s, 0.6 s for the 4 epochs) 8–9: the epochs' 4 and at least a couple of batches' between them.
    expect(cnn.curvePoints).toBeGreaterThanOrEqual(CNN_EPOCHS + 2);
    // What the page says: the loss it showed early is higher than the one it shows at the end.
    const shownLoss = (text: string | null): number => Number(/loss (\d+\.\d+)/.exec(text ?? '')?.[1]);
    expect(shownLoss(earlyStatus)).toBeGreaterThan(shownLoss(await page.textContent('#cnn-status')));
    expect(await page.textContent('#cnn-status')).toMatch(
      new RegExp(`^epoch ${CNN_EPOCHS}\\.00 · ${CNN_STEPS} steps · loss \\d\\.\\d{3} · held-out accuracy \\d+\\.\\d% · [\\d,]+ samples/s · trained weights$`));

    // The curve is drawn across the canvas: the dark loss line reaches most columns. A flat stretch of
    // it (few points since training got fast) is antialiased over two pixel rows, each half covered:
    // a pixel counts from alpha 100. 81% seen with 8 points (the first of each epoch's job at its first
    // batch); a curve of the epochs alone, from epoch 1 on, would reach under 75%.
    const curveColumns = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('#cnn-curve')!;
      const { data, width, height } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const columns = new Set<number>();
      for (let i = 0; i < width * height; i++) if (data[4 * i + 3] > 100 && data[4 * i] < 90 && data[4 * i + 2] < 90) columns.add(i % width);
      return columns.size / width;
    });
    console.log(`CNN tab: the curve reaches ${(100 * curveColumns).toFixed(0)}% of the columns`);
    expect(curveColumns).toBeGreaterThan(0.75);

    // A 1 drawn with the mouse: a stroke down the middle of the pad, slightly slanted.
    const pad = (await page.locator('#cnn-pad').boundingBox())!;
    await page.mouse.move(pad.x + 0.52 * pad.width, pad.y + 0.15 * pad.height);
    await page.mouse.down();
    await page.mouse.move(pad.x + 0.47 * pad.width, pad.y + 0.85 * pad.height, { steps: 12 });
    await page.mouse.up();
    await page.waitForFunction(() => window.demo.cnn.prediction >= 0);
    const read = (await demoState(page)).cnn;
    expect(read.probabilities).toHaveLength(10);
    expect(read.probabilities.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 5);
    expect(read.prediction).toBe(1);
    const shown = (await page.locator('#cnn-bars .rate').allTextContents()).map((text) => Number(text.replace('%', '')));
    expect(shown).toHaveLength(10);
    // Each bar's figure is rounded to 0.1%, so the ten sum to 100 within 0.5.
    expect(Math.abs(shown.reduce((sum, p) => sum + p, 0) - 100)).toBeLessThanOrEqual(0.5);
    expect(shown.indexOf(Math.max(...shown))).toBe(1);

    // The tab's screenshot: text, curve, drawing and bars (measured 76 KB).
    const path = join(tmpdir(), 'simdprop-demo-cnn.png');
    const png = await page.locator('#cnn').screenshot({ path });
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(30_000);

    await page.click('#cnn-clear');
    expect((await demoState(page)).cnn.prediction).toBe(-1);
    expect(await page.locator('#cnn-bars .rate').allTextContents()).toEqual(Array(10).fill('–'));
    expect(errors).toEqual([]);
    await page.close();
  });

  it('trains a character-level GPT on first names in a worker on the Names GPT tab until it beats the bigram, sampling names', async () => {
    const { page, errors } = await open();
    await page.click('#tab-names');
    expect(await page.isVisible('#playground')).toBe(false);
    expect(await page.isVisible('#names-curve')).toBe(true);
    await page.waitForFunction(() => window.demo.names.ready || window.demo.error !== undefined, undefined, { timeout: 30_000 });
    // The page split, tokenized and scored the names it fetched as Node does them from the packages.
    const task = namesTask(loadNames());
    const before = (await demoState(page)).names;
    expect(before.bigram).toBe(task.bigram);
    expect(before.bigram).toBeCloseTo(2.4447, 4);
    expect(await page.textContent('#names-bigram')).toBe(task.bigram.toFixed(3));
    expect([before.trainNames, before.heldOutNames, before.vocabSize]).toEqual([7563, 840, 27]);
    expect(before.trainTokens).toBe(task.trainStream.length);

    // Train until the held-out loss is below the bigram's and ten names have come. Training is seeded, so
    // the held-out losses at each step are the same every run: 3.308 at step 0, 2.599 at 50, 2.444 at 100
    // (just below the bigram's 2.4447), 2.373 at 200, in Node and in Chromium alike. The worker ran about
    // 27 steps a second here (14,000 tokens/s) and names come every 3 s: this took 4.4–5.1 s, the same
    // with two other processes spinning on the two cores.
    const started = performance.now();
    await page.click('#names-train');
    await page.waitForFunction(() => {
      const { heldOut, bigram, sampleBatches } = window.demo.names;
      return window.demo.error !== undefined || (heldOut.length >= 2 && heldOut[heldOut.length - 1].loss < bigram && sampleBatches >= 1);
    }, undefined, { timeout: 90_000 });
    const seconds = (performance.now() - started) / 1000;
    const earlyStatus = await page.textContent('#names-status');
    await page.click('#names-stop');
    await page.waitForFunction(() => !window.demo.names.training);
    const { names, error } = await demoState(page);
    console.log(`Names GPT tab: held-out loss ${names.heldOut.map(({ steps, loss }) => `${loss.toFixed(3)} (step ${steps})`).join(', ')} `
      + `against the bigram's ${names.bigram.toFixed(4)} after ${seconds.toFixed(1)} s; ${Math.round(names.tokensPerSecond)} tokens/s; `
      + `stopped at step ${names.steps}; names ${names.samples.map(({ name }) => name).join(' ')}`);

    expect(errors).toEqual([]);
    expect(error).toBeUndefined();
    expect(names.worker).toMatch(/^wasm /);
    expect(names.parameters).toBe(202_816);
    // Held-out losses every EVALUATE_EVERY steps from step 0, where a fresh model is about uniform over
    // 27 tokens (ln 27 ≈ 3.30), falling below the bigram's.
    const heldOut = names.heldOut;
    expect(heldOut.map(({ steps }) => steps)).toEqual(heldOut.map((_, i) => i * EVALUATE_EVERY));
    expect(heldOut.every(({ loss }) => Number.isFinite(loss))).toBe(true);
    expect(heldOut[0].loss).toBeGreaterThan(3.2);
    expect(heldOut[0].loss).toBeLessThan(3.5);
    expect(heldOut[1].loss).toBeLessThan(heldOut[0].loss);
    const last = heldOut[heldOut.length - 1].loss;
    expect(last).toBeLessThan(names.bigram);
    expect(Math.min(...heldOut.map(({ loss }) => loss))).toBeGreaterThan(1.5);
    expect(names.heldOutLoss).toBe(names.heldOut[names.heldOut.length - 1].loss);
    // The running mean of the batch losses started near ln 27 too and fell with them.
    expect(Number.isFinite(names.trainLoss)).toBe(true);
    expect(names.trainLoss).toBeLessThan(heldOut[0].loss - 0.3);
    expect(names.steps).toBeGreaterThanOrEqual(heldOut[heldOut.length - 1].steps);
    expect(names.epoch).toBeCloseTo((names.steps * NAMES_BATCH * NAMES_GPT.blockSize) / names.trainTokens, 9);
    expect(names.tokensPerSecond).toBeGreaterThan(0);
    expect(names.curvePoints).toBeGreaterThanOrEqual(heldOut.length);

    // Ten names of a–z, each marked as the page's split says, as the list shows them.
    expect(names.sampleBatches).toBeGreaterThanOrEqual(1);
    expect(names.sampledAt).toBeGreaterThan(0);
    expect(names.samples).toHaveLength(NAMES_AT_ONCE);
    const training = new Set(task.train);
    const heldOutNames = new Set(task.heldOut);
    for (const { name, source } of names.samples) {
      expect(name).toMatch(/^[a-z]+$/);
      expect(source).toBe(training.has(name) ? 'training' : heldOutNames.has(name) ? 'held-out' : 'new');
    }
    const items = await page.locator('#names-samples li').evaluateAll((lis) => lis.map((li) => ({ name: li.textContent, source: li.className || 'new' })));
    expect(items).toEqual(names.samples);
    expect(await page.textContent('#names-sampled')).toBe(`sampled at step ${names.sampledAt.toLocaleString('en-US')}:`);

    // What the page says: the figures, and the held-out loss lower at the end than early on.
    const status = (await page.textContent('#names-status'))!;
    expect(status).toMatch(/^step [\d,]+ · epoch \d+\.\d\d · lr \d\.\de-\d · train loss \d\.\d{3} · held-out loss \d\.\d{3} · [\d,]+ tokens\/s · stopped$/);
    expect(status.startsWith(`step ${names.steps.toLocaleString('en-US')} · `)).toBe(true);
    expect(earlyStatus).toMatch(/ · in a worker on wasm /);
    expect(await page.textContent('#names-architecture')).toMatch(/^4 layers, 4 heads, 64 wide, context 16: 202,816 parameters;/);

    // The curve: the dark train loss across most columns, the blue held-out loss, and the bigram as a
    // dashed orange row across the canvas (a dash every 10 px, 6 px of it drawn: 60% of the columns,
    // less where the curves, drawn after it, run along it: 47% when training stopped just past it).
    const drawn = await page.evaluate(() => {
      const canvas = document.querySelector<HTMLCanvasElement>('#names-curve')!;
      const { data, width, height } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
      const dark = new Set<number>();
      let blue = 0;
      const orangeRows = new Map<number, { count: number; first: number; last: number }>();
      for (let i = 0; i < width * height; i++) {
        const [r, g, b, a] = data.subarray(4 * i, 4 * i + 4);
        if (a < 200) continue;
        if (r < 90 && g < 90 && b < 90) dark.add(i % width);
        if (b > 150 && r < 60) blue++;
        if (r > 200 && g > 110 && g < 180 && b < 80) {
          const row = orangeRows.get(Math.floor(i / width)) ?? { count: 0, first: i % width, last: i % width };
          orangeRows.set(Math.floor(i / width), { count: row.count + 1, first: row.first, last: i % width });
        }
      }
      const widest = [...orangeRows.values()].reduce((best, row) => (row.count > best.count ? row : best), { count: 0, first: 0, last: 0 });
      return { darkColumns: dark.size / width, blue, widestOrangeRow: widest.count / width, orangeSpan: (widest.last - widest.first + 1) / width };
    });
    expect(drawn.darkColumns).toBeGreaterThan(0.8);
    expect(drawn.blue).toBeGreaterThan(100);
    expect(drawn.widestOrangeRow).toBeGreaterThan(0.3);
    expect(drawn.orangeSpan).toBeGreaterThan(0.9);

    // The tab's screenshot: text, curves and names.
    const path = join(tmpdir(), 'simdprop-demo-names.png');
    const png = await page.locator('#names').screenshot({ path });
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(png.length).toBeGreaterThan(30_000);

    // Reset: a fresh model, no curve, no names; Train works again.
    await page.click('#names-reset');
    await page.waitForFunction(() => window.demo.names.steps === 0 && !window.demo.names.training);
    const reset = (await demoState(page)).names;
    expect([reset.heldOut, reset.samples, reset.curvePoints]).toEqual([[], [], 0]);
    expect(await page.isEnabled('#names-train')).toBe(true);
    expect(await page.locator('#names-samples li').count()).toBe(0);
    expect(errors).toEqual([]);
    await page.close();
  });
});

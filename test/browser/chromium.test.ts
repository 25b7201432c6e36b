// simdprop in a real browser: Debian's Chromium, driven by playwright-core, trains on a page served
// with COOP/COEP (cross-origin isolated: SIMD and worker threads over shared memory) and on one served
// without (one thread, and init() says why). .ci/run installs chromium; without it these tests are
// skipped with the reason printed.
import { existsSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dense, init, linearlySeparable, Sequential, SGD } from '../../src/index.js';
import { bundle, CHROMIUM, launchChromium, serve } from './serve.js';

const present = existsSync(CHROMIUM);
if (!present) console.warn(`browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium; .ci/run does)`);

// CI installs Chromium, so there a missing browser fails this file instead of skipping it.
if (!present && process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing: .ci/run should have installed it`);

describe.skipIf(!present)('in Chromium', () => {
  let browser: Browser;
  const servers: Server[] = [];
  let script = '';

  beforeAll(async () => {
    script = await bundle();
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    servers.forEach((server) => server.close());
  });

  async function run(isolated: boolean, path = ''): Promise<Record<string, unknown>> {
    const { server, url } = await serve(isolated, script);
    servers.push(server);
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(String(error)));
    await page.goto(url + path);
    await page.waitForFunction(() => (window as unknown as { result?: unknown }).result !== undefined, undefined, { timeout: 60_000 });
    const result = await page.evaluate(() => (window as unknown as { result: Record<string, unknown> }).result);
    await page.close();
    expect(errors).toEqual([]);
    expect(result.error).toBeUndefined();
    return result;
  }

  it('trains on WebAssembly SIMD with worker threads on a cross-origin isolated page', async () => {
    const result = await run(true);
    expect(result.isolated).toBe(true);
    expect(result.backend).toBe('wasm');
    expect(result.threads as number).toBeGreaterThan(1);
    expect(result.description).toMatch(/relaxed-simd, \d+ threads/);
    expect(result.last as number).toBeLessThan((result.first as number) / 4);
    expect(result.accuracy as number).toBeGreaterThanOrEqual(0.95);
  });

  it('trains in a module Web Worker with trainInWorker, the page staying responsive', async () => {
    const result = await run(true, 'worker.html');
    expect(result.events).toContain('ready');
    expect((result.events as string[]).filter((type) => type === 'epoch')).toHaveLength(20);
    expect(result.epochs).toBe(20);
    expect(result.accuracy as number).toBeGreaterThan(0.95);
    expect(result.transferred).toBe(true);
    // The page's own timer kept firing while the worker trained.
    expect(result.ticks as number).toBeGreaterThan(0);
  });

  it('the baseline SIMD build on one thread gives the same bits in Chromium as in Node', async () => {
    const result = await run(true, '?baseline');
    expect(result.description).toBe('wasm simd128');
    await init({ relaxed: false, threads: 1 });
    const { x, y } = linearlySeparable(200, 42);
    const model = new Sequential([dense(2, 16, 'relu'), dense(16, 1, 'sigmoid')], { seed: 1 });
    const history = await model.fit(x, y, { epochs: 200, batchSize: 200, loss: 'bce', optimizer: new SGD(model, { lr: 0.5 }) });
    expect(result.first).toBe(history.loss[0]);
    expect(result.last).toBe(history.loss.at(-1));
    model.dispose();
  });

  it('falls back to one thread, and says why, without COOP/COEP — and still trains', async () => {
    const result = await run(false);
    expect(result.isolated).toBe(false);
    expect(result.threads).toBe(1);
    expect(result.reason).toMatch(/not cross-origin isolated/);
    expect(result.last as number).toBeLessThan((result.first as number) / 4);
  });
});

// A static server on 127.0.0.1 for the browser tests: simdprop bundled for browsers (esbuild), the
// .wasm builds, and a test page; with or without the COOP/COEP headers that make a page
// cross-origin isolated (and so allow SharedArrayBuffer, and threads).
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { chromium, type Browser } from 'playwright-core';

const root = new URL('../../', import.meta.url);

/** simdprop as one ES module for browsers; Node-only imports stay external (never reached there). */
export async function bundle(): Promise<string> {
  const result = await build({
    entryPoints: [new URL('src/index.ts', root).pathname],
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, external: ['node:*'],
  });
  return result.outputFiles[0].text;
}

export const PAGE = `<!doctype html><meta charset="utf-8"><title>simdprop in a browser</title>
<script type="module">
import { init, Sequential, dense, SGD, linearlySeparable } from '/simdprop.js';
try {
  // ?baseline: the SIMD128 build on one thread, whose bits must equal Node's.
  const baseline = new URLSearchParams(location.search).has('baseline');
  const report = await init(baseline ? { wasmUrl: '/build/', relaxed: false, threads: 1 } : { wasmUrl: '/build/' });
  const { x, y } = linearlySeparable(200, 42);
  const model = new Sequential([dense(2, 16, 'relu'), dense(16, 1, 'sigmoid')], { seed: 1 });
  const history = await model.fit(x, y, { epochs: 200, batchSize: 200, loss: 'bce', optimizer: new SGD(model, { lr: 0.5 }) });
  const predictions = model.predict(x);
  let correct = 0;
  for (let i = 0; i < y.length; i++) if ((predictions[i] > 0.5 ? 1 : 0) === y[i]) correct++;
  window.result = { isolated: crossOriginIsolated, backend: report.backend, description: report.description, threads: report.threads,
    reason: report.reason ?? null, first: history.loss[0], last: history.loss.at(-1), accuracy: correct / y.length };
} catch (error) {
  window.result = { error: String(error && error.stack || error) };
}
</script>`;

/** trainInWorker from the built package: a module Web Worker trains while the page stays free. */
export const WORKER_PAGE = `<!doctype html><meta charset="utf-8"><title>simdprop training in a Web Worker</title>
<script type="module">
import { init, trainInWorker, linearlySeparable } from '/dist/index.js';
try {
  await init({ wasmUrl: '/build/' });
  const { x, y } = linearlySeparable(400, 7);
  const labels = y.slice();
  const points = x.slice();
  const job = trainInWorker({
    layers: [{ inputSize: 2, outputSize: 8, activation: 'relu' }, { inputSize: 8, outputSize: 1, activation: 'sigmoid' }],
    seed: 3, x, y, init: { wasmUrl: '/build/' },
    fit: { loss: 'bce', optimizer: { kind: 'adam', lr: 0.05 }, epochs: 20, batchSize: 32, metrics: ['accuracy'] },
  });
  const events = [];
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  for await (const event of job.events) events.push(event.type);
  clearInterval(timer);
  const { model, history } = await job.result;
  const predictions = model.predict(points);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if ((predictions[i] > 0.5 ? 1 : 0) === labels[i]) correct++;
  window.result = { events, epochs: history.epochs, accuracy: correct / labels.length, transferred: x.length === 0, ticks };
} catch (error) {
  window.result = { error: String(error && error.stack || error) };
}
</script>`;

export async function serve(isolated: boolean, script: string): Promise<{ server: Server; url: string }> {
  const server = createServer(async (request, response) => {
    const headers: Record<string, string> = isolated
      ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
      : {};
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/' || path === '/index.html') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(PAGE);
    } else if (path === '/simdprop.js') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/javascript' }).end(script);
    } else if (path === '/worker.html') {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(WORKER_PAGE);
    } else if (/^\/dist\/[\w/-]+\.js$/.test(path)) {
      // The built package, unbundled, as a site that serves node_modules/simdprop/dist would.
      const text = await readFile(new URL(`.${path}`, root), 'utf8').catch(() => undefined);
      if (text === undefined) response.writeHead(404, headers).end();
      else response.writeHead(200, { ...headers, 'Content-Type': 'text/javascript' }).end(text);
    } else if (/^\/build\/simdprop(-mt)?(-relaxed)?\.wasm$/.test(path)) {
      const bytes = await readFile(new URL(`.${path}`, root));
      response.writeHead(200, { ...headers, 'Content-Type': 'application/wasm' }).end(bytes);
    } else {
      response.writeHead(404, headers).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}/` };
}

/** Debian's Chromium, headless, with the flags this machine's closed network needs. */
export const CHROMIUM = '/usr/bin/chromium';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// simdprop in Cloudflare's workerd (npm: workerd), where compiling wasm bytes at run time is not
// allowed: the Worker imports the .wasm as a module and hands it to init({ module }), then trains the
// toy in a fetch handler. workerd serves on 127.0.0.1 only, for the length of the test.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { afterAll, expect, it } from 'vitest';

const root = new URL('../../', import.meta.url);
const folder = mkdtempSync(join(tmpdir(), 'simdprop-workerd-'));
let workerd: ChildProcess | undefined;
afterAll(() => {
  workerd?.kill();
  rmSync(folder, { recursive: true, force: true });
});

const WORKER = `
import wasm from './simdprop.wasm';
import { init, Sequential, dense, SGD, linearlySeparable } from './simdprop.js';
export default {
  async fetch() {
    try {
      const report = await init({ module: wasm, threads: 1 });
      const { x, y } = linearlySeparable(100, 42);
      const model = new Sequential([dense(2, 8, 'relu'), dense(8, 1, 'sigmoid')], { seed: 1 });
      const history = await model.fit(x, y, { epochs: 200, batchSize: 100, loss: 'bce', optimizer: new SGD(model, { lr: 0.3 }) });
      return Response.json({ description: report.description, first: history.loss[0], last: history.loss.at(-1) });
    } catch (error) {
      return Response.json({ error: String(error && error.stack || error) }, { status: 500 });
    }
  },
};`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

it('trains in workerd through init({ module })', async () => {
  const bundle = await build({
    entryPoints: [new URL('src/index.ts', root).pathname],
    bundle: true, format: 'esm', platform: 'neutral', target: 'es2022', write: false, external: ['node:*'],
  });
  writeFileSync(join(folder, 'simdprop.js'), bundle.outputFiles[0].text);
  writeFileSync(join(folder, 'worker.js'), WORKER);
  copyFileSync(new URL('build/simdprop.wasm', root), join(folder, 'simdprop.wasm'));
  const port = await freePort();
  writeFileSync(join(folder, 'config.capnp'), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);
const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "simdprop.js", esModule = embed "simdprop.js"),
    (name = "simdprop.wasm", wasm = embed "simdprop.wasm"),
  ],
  compatibilityDate = "2024-09-23",
);
`);
  const binary = new URL('node_modules/.bin/workerd', root).pathname;
  workerd = spawn(binary, ['serve', join(folder, 'config.capnp')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  workerd.stderr!.on('data', (chunk) => (log += chunk));
  workerd.stdout!.on('data', (chunk) => (log += chunk));
  let response: Response | undefined;
  for (let attempt = 0; attempt < 100 && !response; attempt++) {
    try {
      response = await fetch(`http://127.0.0.1:${port}/`);
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  expect(response, `workerd did not answer: ${log}`).toBeDefined();
  const result = await response!.json() as { description?: string; first?: number; last?: number; error?: string };
  expect(result.error, log).toBeUndefined();
  expect(result.description).toBe('wasm simd128');
  expect(result.last!).toBeLessThan(result.first! / 4);
});

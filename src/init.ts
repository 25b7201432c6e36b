// Loading the backends and choosing the default one. Both can be live in one process: a model names
// its backend, or takes the default that init() chose.
import type { Backend, BackendName } from './backend/backend.js';
import { createJsBackend } from './backend/js/index.js';
import { createWasmBackend, threadsUnavailable, wasmSimdSupported, type WasmSource } from './backend/wasm/index.js';
import { SimdpropError, describe } from './errors.js';

export interface InitOptions extends WasmSource {
  /** 'wasm' requires WebAssembly SIMD; 'js' is pure JavaScript. Default: wasm where supported, else js. */
  backend?: BackendName;
  /**
   * Threads for large products, the calling thread included. Default: the cores available, where the
   * runtime can share memory between threads (in browsers: a cross-origin isolated page); else 1.
   */
  threads?: number;
}

export interface InitReport {
  /** The backend models use unless they name another. */
  backend: BackendName;
  /** What it runs on, e.g. "wasm simd128 + relaxed-simd, 2 threads". */
  description: string;
  /** Threads the kernels run on. */
  threads: number;
  /** Why the default is not the fastest backend, when it is not. */
  reason?: string;
}

let wasmBackend: Backend | undefined;
let jsBackend: Backend | undefined;
let defaultBackend: BackendName | undefined;

/** Loads the backend and makes it the default. Safe to call again (e.g. to switch the default). */
export async function init(options: InitOptions = {}): Promise<InitReport> {
  const wanted = options.backend;
  if (wanted !== undefined && wanted !== 'wasm' && wanted !== 'js') {
    throw new SimdpropError('UNKNOWN_NAME', `unknown backend ${describe(wanted)}: expected 'wasm' or 'js'`);
  }
  if (wanted === 'js') {
    defaultBackend = 'js';
    return { backend: 'js', description: getBackend('js').description, threads: 1, reason: 'asked for with { backend: "js" }' };
  }
  if (wanted === undefined && !wasmSimdSupported()) {
    defaultBackend = 'js';
    return { backend: 'js', description: getBackend('js').description, threads: 1, reason: 'this runtime has no WebAssembly SIMD' };
  }
  const { threads, reason } = await chooseThreads(options.threads);
  if (wasmBackend && (wasmBackend.threads !== threads || options.module || options.bytes || options.wasmUrl || options.relaxed !== undefined)) {
    wasmBackend.close();
    wasmBackend = undefined;
  }
  wasmBackend ??= await createWasmBackend({ ...options, threads });
  defaultBackend = 'wasm';
  return { backend: 'wasm', description: wasmBackend.description, threads: wasmBackend.threads, ...(reason ? { reason } : {}) };
}

async function availableCores(): Promise<number> {
  if (typeof process === 'object' && process.versions?.node) return (await import('node:os')).availableParallelism();
  return Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1);
}

// The thread count to use, and why it is 1 where more were asked for or would be the default.
async function chooseThreads(asked: number | undefined): Promise<{ threads: number; reason?: string }> {
  if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1 && asked <= 61)) {
    throw new SimdpropError('OPTION', `threads must be a whole number from 1 to 61, got ${describe(asked)}`);
  }
  const wanted = asked ?? Math.min(await availableCores(), 61);
  if (wanted === 1) return { threads: 1 };
  const unavailable = threadsUnavailable();
  if (unavailable) return { threads: 1, reason: `threads off: ${unavailable}` };
  return { threads: wanted };
}

/** The named backend (default: the one init() chose). The js backend needs no init(). */
export function getBackend(name: BackendName | undefined = defaultBackend): Backend {
  if (name === 'js') return (jsBackend ??= createJsBackend());
  if (name === 'wasm') {
    if (!wasmBackend) throw new SimdpropError('BACKEND', "the wasm backend is not loaded: await init() first");
    return wasmBackend;
  }
  if (name === undefined) {
    throw new SimdpropError('BACKEND', "simdprop is not initialized: await init() first, or pass { backend: 'js' }");
  }
  throw new SimdpropError('UNKNOWN_NAME', `unknown backend ${describe(name)}: expected 'wasm' or 'js'`);
}

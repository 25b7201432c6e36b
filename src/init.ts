// Loading the backends and choosing the default one. Both can be live in one process: a model names
// its backend, or takes the default that init() chose.
import type { Backend, BackendName } from './backend/backend.js';
import { createJsBackend } from './backend/js/index.js';
import { createWasmBackend, wasmSimdSupported, type WasmSource } from './backend/wasm/index.js';
import { SimdpropError, describe } from './errors.js';

export interface InitOptions extends WasmSource {
  /** 'wasm' requires WebAssembly SIMD; 'js' is pure JavaScript. Default: wasm where supported, else js. */
  backend?: BackendName;
}

export interface InitReport {
  /** The backend models use unless they name another. */
  backend: BackendName;
  /** What it runs on, e.g. "wasm simd128". */
  description: string;
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
    return { backend: 'js', description: getBackend('js').description, reason: 'asked for with { backend: "js" }' };
  }
  if (wanted === undefined && !wasmSimdSupported()) {
    defaultBackend = 'js';
    return { backend: 'js', description: getBackend('js').description, reason: 'this runtime has no WebAssembly SIMD' };
  }
  wasmBackend ??= await createWasmBackend(options);
  defaultBackend = 'wasm';
  return { backend: 'wasm', description: wasmBackend.description };
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

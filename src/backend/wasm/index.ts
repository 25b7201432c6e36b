// The WebAssembly SIMD backend: the kernels of build/simdprop.wasm over a memory this side creates.
import type { Backend } from '../backend.js';
import { KERNEL_NAMES, type Kernels, type KernelName } from '../kernels.js';
import { Heap, PAGE_BYTES } from '../../memory/heap.js';
import { ThreadPool } from '../../threads/pool.js';
import { threadedKernels } from '../../threads/threaded.js';
import { Tape, type RunTape } from './tape.js';

/** Where the module comes from: compiled already (workerd), raw bytes, or the files next to the package. */
export interface WasmSource {
  module?: WebAssembly.Module;
  bytes?: BufferSource;
  /**
   * The folder the simdprop*.wasm builds are served from (browsers; default: the package's build/
   * folder next to the module, as a bundler or a static server lays it out).
   */
  wasmUrl?: string | URL;
  /**
   * With the packaged files: whether to use the relaxed-SIMD build (fused multiply-add) — default:
   * wherever the runtime validates it (Node 20 needs --experimental-wasm-relaxed-simd).
   */
  relaxed?: boolean;
  /**
   * Threads to run large products on, the main thread included (default 1). Above 1 the memory is
   * shared and the module must be a threads build (simdprop-mt*.wasm, which the packaged files pick).
   */
  threads?: number;
}

const INITIAL_PAGES = 16;
/** The threads builds declare this maximum (4 GiB): a shared memory must state one. */
const MAXIMUM_PAGES = 65536;
export { KERNEL_NAMES };

/** A tiny module using one SIMD instruction: validates only where WebAssembly SIMD is supported. */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

export function wasmSimdSupported(): boolean {
  return typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function' && WebAssembly.validate(SIMD_PROBE);
}

// What a relative wasmUrl is relative to: the page (or worker script) where there is one, else this module.
function pageUrl(): string {
  return (globalThis as { location?: { href?: string } }).location?.href ?? import.meta.url;
}

async function readPackaged(file: string, folder: string | URL | undefined): Promise<Uint8Array<ArrayBuffer>> {
  const url = folder === undefined
    ? new URL(`../../../build/${file}`, import.meta.url)
    : new URL(file, new URL(String(folder).endsWith('/') ? String(folder) : `${folder}/`, pageUrl()));
  if (url.protocol !== 'file:') {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`simdprop: ${url} answered ${response.status}: serve the .wasm builds there, or pass init({ wasmUrl })`);
    return new Uint8Array(await response.arrayBuffer());
  }
  const { readFile } = await import('node:fs/promises');
  const contents = await readFile(url).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new Error(`simdprop: ${url.pathname} is missing: run "npm run build:wasm" (or install the published package)`);
    }
    throw error;
  });
  return new Uint8Array(contents.buffer as ArrayBuffer, contents.byteOffset, contents.byteLength);
}

// The relaxed-SIMD build where it is wanted and the runtime accepts it, else the baseline SIMD build.
async function packagedModule(relaxed: boolean | undefined, threaded: boolean, folder: string | URL | undefined): Promise<WebAssembly.Module> {
  const name = threaded ? 'simdprop-mt' : 'simdprop';
  if (relaxed !== false) {
    const bytes = await readPackaged(`${name}-relaxed.wasm`, folder);
    if (WebAssembly.validate(bytes)) return WebAssembly.compile(bytes);
    if (relaxed === true) throw new Error('simdprop: this runtime does not support relaxed SIMD');
  }
  return WebAssembly.compile(await readPackaged(`${name}.wasm`, folder));
}

/** Why this runtime cannot run kernels on several threads, or undefined when it can. */
export function threadsUnavailable(): string | undefined {
  // Browsers hide SharedArrayBuffer from pages that are not cross-origin isolated: say what to fix.
  if ((globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === false) {
    return 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';
  }
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return 'this runtime has no SharedArrayBuffer';
  return undefined;
}

export async function createWasmBackend(source: WasmSource = {}): Promise<Backend> {
  if (!wasmSimdSupported()) throw new Error('simdprop: this runtime does not support WebAssembly SIMD');
  const threads = source.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`simdprop: threads must be a whole number ≥ 1, got ${threads}`);
  const threaded = threads > 1;
  if (threaded && threadsUnavailable()) throw new Error(`simdprop: cannot use ${threads} threads: ${threadsUnavailable()}`);
  const given = source.module ?? (source.bytes ? await WebAssembly.compile(source.bytes) : undefined);
  const module = given ?? (await packagedModule(source.relaxed, threaded, source.wasmUrl));
  const memory = threaded
    ? new WebAssembly.Memory({ initial: INITIAL_PAGES, maximum: MAXIMUM_PAGES, shared: true })
    : new WebAssembly.Memory({ initial: INITIAL_PAGES });
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort(message: number, file: number, line: number, column: number): never {
        throw new Error(`simdprop: wasm kernel aborted at ${line}:${column}`);
      },
    },
  });
  const exports = instance.exports as Record<string, unknown>;
  // Each build says whether it fuses multiply-adds (relaxed SIMD) in an exported constant.
  const relaxed = (exports.relaxed_simd as WebAssembly.Global | undefined)?.value === 1;
  const kernels = {} as Record<KernelName, unknown>;
  for (const name of KERNEL_NAMES) {
    if (typeof exports[name] !== 'function') throw new Error(`simdprop: the wasm module lacks the kernel ${name}`);
    kernels[name] = exports[name];
  }
  const heap = new Heap(memory, PAGE_BYTES);
  if (typeof exports.run_tape !== 'function') throw new Error('simdprop: the wasm module lacks run_tape');
  const tape = new Tape(kernels as unknown as Kernels, exports.run_tape as RunTape, heap);
  const simd = relaxed ? 'wasm simd128 + relaxed-simd' : 'wasm simd128';
  if (!threaded) return { name: 'wasm', description: simd, kernels: kernels as unknown as Kernels, heap, tape, threads: 1, close() {} };
  const pool = await ThreadPool.start(threads - 1, module, memory, KERNEL_NAMES);
  return {
    name: 'wasm',
    description: `${simd}, ${threads} threads`,
    kernels: threadedKernels(kernels as unknown as Kernels, pool, heap, KERNEL_NAMES),
    heap,
    tape,
    threads,
    close: () => pool.close(),
  };
}

// A backend: a set of kernels and the heap they run over. Both backends can live in one process.
import type { Kernels } from './kernels.js';
import type { Heap } from '../memory/heap.js';
import type { Tape } from './wasm/tape.js';

export type BackendName = 'wasm' | 'js';

export interface Backend {
  readonly name: BackendName;
  /** What the backend runs on, for reports: e.g. "wasm simd128" or "pure JS". */
  readonly description: string;
  readonly kernels: Kernels;
  readonly heap: Heap;
  /** Threads the kernels run on, the caller's included. */
  readonly threads: number;
  /** The wasm backend's recorder: a training step's kernel calls run from it in one crossing. */
  readonly tape?: Tape;
  /** Stops the backend's worker threads, if it has any. */
  close(): void;
}

// The pure-JS backend: the twins bound to a Heap. Kernels take byte offsets (the contract) and
// hand the twins the heap's float32 view with element indices; pointer 0 means "none" (−1).
import type { Backend } from '../backend.js';
import { Heap, PlainMemory, type LinearMemory } from '../../memory/heap.js';
import { bindTwins } from '../generated/kernels.js';

export function createJsBackend(memory: LinearMemory = new PlainMemory(2)): Backend {
  const heap = new Heap(memory);
  // The views are fetched on every call, never cached: growing the memory replaces them.
  const kernels = bindTwins(() => heap.f32, () => heap.i32);
  return { name: 'js', description: 'pure JS', heap, kernels, threads: 1, close() {} };
}

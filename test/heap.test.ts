import { describe, expect, it } from 'vitest';
import { createJsBackend } from '../src/backend/js/index.js';
import { Heap, PAGE_BYTES, PlainMemory, type LinearMemory } from '../src/memory/heap.js';

const memories: [string, () => LinearMemory][] = [
  ['PlainMemory', () => new PlainMemory(2)],
  ['WebAssembly.Memory', () => new WebAssembly.Memory({ initial: 2 })],
];

describe.each(memories)('Heap over %s', (_name, createMemory) => {
  it('hands out 64-byte aligned blocks from base, sizes rounded up to 64', () => {
    const heap = new Heap(createMemory());
    const offsets = [1, 64, 65, 100, 0, 3].map((bytes) => heap.alloc(bytes));
    expect(offsets[0]).toBe(PAGE_BYTES);
    for (const offset of offsets) expect(offset % 64).toBe(0);
    expect(offsets.map((offset) => heap.blockBytes(offset))).toEqual([64, 64, 128, 128, 64, 64]);
    expect(heap.inUseBytes).toBe(512);
  });

  it('inUseBytes returns to 0 and the next block starts at base again once everything is freed', () => {
    const heap = new Heap(createMemory());
    const offsets = [10, 200, 3000, 40].map((bytes) => heap.alloc(bytes));
    for (const offset of [offsets[2], offsets[0], offsets[3], offsets[1]]) heap.free(offset);
    expect(heap.inUseBytes).toBe(0);
    expect(heap.alloc(64)).toBe(PAGE_BYTES);
  });

  it('reuses a freed block first fit, splitting a larger one', () => {
    const heap = new Heap(createMemory());
    const first = heap.alloc(256);
    const guard = heap.alloc(64);
    heap.free(first);
    expect(heap.alloc(64)).toBe(first);
    expect(heap.alloc(128)).toBe(first + 64);
    expect(heap.alloc(64)).toBe(first + 192);
    expect(heap.alloc(64)).toBe(guard + 64);
  });

  it('merges a freed block with free neighbours on both sides', () => {
    const heap = new Heap(createMemory());
    const [a, b, c, last] = [64, 64, 64, 64].map((bytes) => heap.alloc(bytes));
    heap.free(a);
    heap.free(c);
    expect(heap.alloc(128)).toBe(last + 64);
    heap.free(b);
    // a, b and c are now one free 192-byte block.
    expect(heap.alloc(192)).toBe(a);
  });

  it('freeing the topmost block gives its space back to the top, merged with free space below', () => {
    const heap = new Heap(createMemory());
    const a = heap.alloc(64);
    const b = heap.alloc(64);
    const c = heap.alloc(64);
    heap.free(b);
    heap.free(c);
    expect(heap.alloc(4096)).toBe(b);
    expect(heap.blockBytes(a)).toBe(64);
  });

  it('rejects freeing a block twice or an offset that is not a block', () => {
    const heap = new Heap(createMemory());
    const a = heap.alloc(64);
    heap.alloc(64);
    heap.free(a);
    expect(() => heap.free(a)).toThrow(/not a live block/);
    expect(() => heap.free(a + 4)).toThrow(/not a live block/);
    expect(() => heap.blockBytes(a)).toThrow(/not a live block/);
  });

  it('grows the memory when needed, keeps the contents, and re-makes the views', () => {
    const memory = createMemory();
    const heap = new Heap(memory);
    const floats = heap.alloc(1000 * 4);
    const ints = heap.alloc(10 * 4);
    const f32Before = heap.f32;
    const i32Before = heap.i32;
    for (let i = 0; i < 1000; i++) f32Before[(floats >>> 2) + i] = i + 0.5;
    i32Before.set([-7, 1 << 30], ints >>> 2);
    const bytesBefore = memory.buffer.byteLength;

    const large = heap.alloc(3 * PAGE_BYTES + 100);
    expect(memory.buffer.byteLength).toBeGreaterThanOrEqual(large + 3 * PAGE_BYTES + 100);
    expect(memory.buffer.byteLength).toBeGreaterThan(bytesBefore);
    // The old views are on the old buffer (detached, for a WebAssembly.Memory); the heap's are new.
    expect(f32Before.buffer === memory.buffer).toBe(false);
    expect(heap.f32 === f32Before).toBe(false);
    expect(heap.f32.buffer).toBe(memory.buffer);
    expect(heap.i32.buffer).toBe(memory.buffer);
    expect(heap.f32.length).toBe(memory.buffer.byteLength / 4);
    const kept = heap.f32.subarray(floats >>> 2, (floats >>> 2) + 1000);
    expect(Array.from(kept)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 0.5));
    expect(Array.from(heap.i32.subarray(ints >>> 2, (ints >>> 2) + 2))).toEqual([-7, 1 << 30]);
    heap.f32[(large >>> 2) + 3 * (PAGE_BYTES >>> 2)] = 42;
    expect(heap.f32[(large >>> 2) + 3 * (PAGE_BYTES >>> 2)]).toBe(42);
  });

  it('refuses to grow beyond maxBytes', () => {
    const heap = new Heap(createMemory(), PAGE_BYTES, 4 * PAGE_BYTES);
    heap.alloc(2 * PAGE_BYTES);
    expect(() => heap.alloc(2 * PAGE_BYTES)).toThrow(RangeError);
    expect(heap.alloc(PAGE_BYTES)).toBe(3 * PAGE_BYTES);
  });
});

describe('the JS backend over a growing heap', () => {
  it('its kernels read and write through the new view after the memory grows', () => {
    const backend = createJsBackend();
    const x = backend.heap.alloc(4 * 4);
    backend.heap.f32.set([1, 2, 3, 4], x >>> 2);
    const beyondOldEnd = backend.heap.alloc(4 * PAGE_BYTES);
    backend.kernels.scale(x, 4, 2);
    backend.kernels.copy(beyondOldEnd + 3 * PAGE_BYTES, x, 4);
    const index = (beyondOldEnd + 3 * PAGE_BYTES) >>> 2;
    expect(Array.from(backend.heap.f32.subarray(index, index + 4))).toEqual([2, 4, 6, 8]);
  });
});

// Runs one kernel case on the wasm and the JS backend with identical inputs. Every buffer sits
// between guard elements that no kernel may touch; inputs must come back unchanged.
import { assert } from 'vitest';
import type { Backend } from '../src/backend/backend.js';
import type { Kernels } from '../src/backend/kernels.js';
import { createJsBackend } from '../src/backend/js/index.js';
import { createWasmBackend } from '../src/backend/wasm/index.js';

export interface BackendPair {
  /** The baseline SIMD build. */
  readonly wasm: Backend;
  readonly js: Backend;
  /** The relaxed-SIMD build (vitest.config.ts starts workers with the flag Node 20 needs for it). */
  readonly relaxed: Backend;
}

export async function createBackendPair(): Promise<BackendPair> {
  return {
    wasm: await createWasmBackend({ relaxed: false }),
    js: createJsBackend(),
    relaxed: await createWasmBackend({ relaxed: true }),
  };
}

/** 64 bytes of guard on each side keeps the data of an aligned buffer 64-byte aligned. */
const GUARD_ELEMENTS = 16;
const GUARD_VALUE = Math.fround(-8765.4321);

/**
 * The buffers of one case on one backend. Offsets handed out are byte offsets of the data;
 * `misalignment` shifts every buffer by that many elements off the heap's 64-byte alignment,
 * as tensors inside one flat parameter block are.
 */
export class Buffers {
  private readonly blocks: number[] = [];
  private readonly lengths = new Map<number, number>();
  private readonly inputValues = new Map<number, Float32Array>();

  constructor(
    readonly backend: Backend,
    private readonly misalignment: number,
  ) {}

  /** A buffer holding `values`, which the kernel must leave unchanged. */
  input(values: ArrayLike<number>): number {
    const offset = this.place(values.length);
    this.backend.heap.f32.set(values, offset >>> 2);
    this.inputValues.set(offset, Float32Array.from(values));
    return offset;
  }

  /** An int32 buffer holding `values`. */
  labels(values: Int32Array): number {
    const offset = this.place(values.length);
    this.backend.heap.i32.set(values, offset >>> 2);
    return offset;
  }

  /** A buffer the kernel writes: NaN everywhere, or `start` for kernels that accumulate or update in place. */
  output(length: number, start?: ArrayLike<number>): number {
    const offset = this.place(length);
    if (start === undefined) this.backend.heap.f32.fill(NaN, offset >>> 2, (offset >>> 2) + length);
    else this.backend.heap.f32.set(start, offset >>> 2);
    return offset;
  }

  /** A copy of a buffer's contents, after checking that its guards are intact. */
  read(offset: number): Float32Array {
    this.expectGuardsIntact(offset);
    const index = offset >>> 2;
    return this.backend.heap.f32.slice(index, index + this.lengthOf(offset));
  }

  /** Checks every guard and that every input is unchanged. */
  verify(): void {
    for (const offset of this.lengths.keys()) this.expectGuardsIntact(offset);
    for (const [offset, values] of this.inputValues) {
      const index = offset >>> 2;
      const now = this.backend.heap.f32.subarray(index, index + values.length);
      const changed = now.findIndex((value, i) => !Object.is(value, values[i]));
      if (changed >= 0) {
        const change = `${values[changed]} → ${now[changed]}`;
        assert.fail(`${this.backend.name}: input at byte ${offset} changed at element ${changed}: ${change}`);
      }
    }
  }

  release(): void {
    for (const block of this.blocks) this.backend.heap.free(block);
    this.blocks.length = 0;
  }

  private place(length: number): number {
    const leading = GUARD_ELEMENTS + this.misalignment;
    const block = this.backend.heap.alloc((leading + length + GUARD_ELEMENTS) * 4);
    this.blocks.push(block);
    const offset = block + leading * 4;
    const f32 = this.backend.heap.f32;
    f32.fill(GUARD_VALUE, block >>> 2, offset >>> 2);
    f32.fill(GUARD_VALUE, (offset >>> 2) + length, (offset >>> 2) + length + GUARD_ELEMENTS);
    this.lengths.set(offset, length);
    return offset;
  }

  private lengthOf(offset: number): number {
    const length = this.lengths.get(offset);
    if (length === undefined) throw new Error(`no buffer at byte ${offset}`);
    return length;
  }

  private expectGuardsIntact(offset: number): void {
    const f32 = this.backend.heap.f32;
    const index = offset >>> 2;
    const length = this.lengthOf(offset);
    for (let i = 1; i <= GUARD_ELEMENTS; i++) {
      if (f32[index - i] !== GUARD_VALUE) {
        assert.fail(`${this.backend.name}: wrote ${i} element(s) before the buffer at byte ${offset}: ${f32[index - i]}`);
      }
      const past = f32[index + length + i - 1];
      if (past !== GUARD_VALUE) {
        assert.fail(`${this.backend.name}: wrote element ${length + i - 1} of a ${length}-element buffer: ${past}`);
      }
    }
  }
}

/** Runs `runCase` on each backend with fresh buffers and returns both results. */
export function onBoth<T>(
  pair: BackendPair,
  runCase: (kernels: Kernels, buffers: Buffers) => T,
  misalignment = 0,
): { wasm: T; js: T } {
  return { wasm: onBackend(pair.wasm, runCase, misalignment), js: onBackend(pair.js, runCase, misalignment) };
}

/** Runs `runCase` on one backend with fresh buffers, checks guards and inputs, and frees the buffers. */
export function onBackend<T>(backend: Backend, runCase: (kernels: Kernels, buffers: Buffers) => T, misalignment = 0): T {
  const buffers = new Buffers(backend, misalignment);
  try {
    const result = runCase(backend.kernels, buffers);
    buffers.verify();
    return result;
  } finally {
    buffers.release();
  }
}

/** Element counts for elementwise kernels: the tails around 4- and 16-wide loops and an odd large size. */
export const TAIL_SIZES = [1, 3, 4, 5, 15, 16, 17, 64, 127, 1031];

/** (rows, cols) for row-wise kernels: cols over the tails (1 included), a few row counts, and large odd cases. */
export const ROW_SHAPES: [number, number][] = [
  ...[1, 3, 4, 17].flatMap((rows) => [1, 2, 3, 4, 5, 15, 16, 17, 64, 127].map((cols): [number, number] => [rows, cols])),
  [128, 10],
  [5, 1031],
  [1031, 3],
  [1031, 1],
  [1030, 2],
];

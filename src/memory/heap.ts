// The heap: one linear memory (a WebAssembly.Memory, or a plain growable buffer for pure JS) carved
// into blocks by a first-fit free list. Blocks are 64-byte aligned; offsets below `base` are reserved.

export const PAGE_BYTES = 65536;
const ALIGN = 64;

/** What the heap needs of a memory: WebAssembly.Memory has exactly this shape. */
export interface LinearMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

/** A growable buffer for runtimes without WebAssembly; grows by copying like memory.grow does. */
export class PlainMemory implements LinearMemory {
  buffer: ArrayBuffer;
  constructor(initialPages: number) {
    this.buffer = new ArrayBuffer(initialPages * PAGE_BYTES);
  }
  grow(pages: number): number {
    const before = this.buffer.byteLength / PAGE_BYTES;
    const next = new ArrayBuffer((before + pages) * PAGE_BYTES);
    new Uint8Array(next).set(new Uint8Array(this.buffer));
    this.buffer = next;
    return before;
  }
}

interface FreeBlock {
  offset: number;
  bytes: number;
}

export class Heap {
  private f32View: Float32Array;
  private i32View: Int32Array;
  private readonly freeBlocks: FreeBlock[] = [];
  private readonly liveBlocks = new Map<number, number>();
  private top: number;
  /** Bytes handed out and not yet freed. */
  inUseBytes = 0;

  constructor(
    readonly memory: LinearMemory,
    readonly base: number = PAGE_BYTES,
    /** Largest size the memory may grow to, in bytes (wasm32 addresses 4 GiB at most). */
    readonly maxBytes: number = 4 * 1024 * 1024 * 1024 - PAGE_BYTES,
  ) {
    if (base % ALIGN !== 0) throw new RangeError(`simdprop: heap base ${base} is not a multiple of ${ALIGN}`);
    this.top = base;
    this.f32View = new Float32Array(memory.buffer);
    this.i32View = new Int32Array(memory.buffer);
  }

  /**
   * The memory as float32. Only alloc() grows the memory, and it re-makes the views when it does; a
   * view of a grown non-shared memory is detached (length 0), which is re-checked here as well. Asking
   * the memory for its buffer instead costs some 40 ns, several times per training step.
   */
  get f32(): Float32Array {
    if (this.f32View.length === 0) this.remakeViews();
    return this.f32View;
  }

  get i32(): Int32Array {
    if (this.i32View.length === 0) this.remakeViews();
    return this.i32View;
  }

  private remakeViews(): void {
    this.f32View = new Float32Array(this.memory.buffer);
    this.i32View = new Int32Array(this.memory.buffer);
  }

  /** Reserves `bytes` (rounded up to 64), growing the memory when needed; returns the byte offset. */
  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.freeBlocks.length; i++) {
      const block = this.freeBlocks[i];
      if (block.bytes < size) continue;
      const offset = block.offset;
      if (block.bytes === size) this.freeBlocks.splice(i, 1);
      else {
        block.offset += size;
        block.bytes -= size;
      }
      return this.handOut(offset, size);
    }
    const offset = this.top;
    const end = offset + size;
    if (end > this.maxBytes) {
      throw new RangeError(`simdprop: cannot reserve ${bytes} bytes: the memory would exceed ${this.maxBytes} bytes`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      this.memory.grow(Math.ceil((end - have) / PAGE_BYTES));
      this.remakeViews();
    }
    this.top = end;
    return this.handOut(offset, size);
  }

  private handOut(offset: number, size: number): number {
    this.liveBlocks.set(offset, size);
    this.inUseBytes += size;
    return offset;
  }

  /** Returns a block to the free list, merging it with free neighbours. */
  free(offset: number): void {
    const size = this.liveBlocks.get(offset);
    if (size === undefined) throw new Error(`simdprop: free of ${offset}, which is not a live block`);
    this.liveBlocks.delete(offset);
    this.inUseBytes -= size;
    let index = this.freeBlocks.findIndex((block) => block.offset > offset);
    if (index < 0) index = this.freeBlocks.length;
    this.freeBlocks.splice(index, 0, { offset, bytes: size });
    const next = this.freeBlocks[index + 1];
    if (next && offset + size === next.offset) {
      this.freeBlocks[index].bytes += next.bytes;
      this.freeBlocks.splice(index + 1, 1);
    }
    const prev = this.freeBlocks[index - 1];
    if (prev && prev.offset + prev.bytes === offset) {
      prev.bytes += this.freeBlocks[index].bytes;
      this.freeBlocks.splice(index, 1);
    }
    const last = this.freeBlocks[this.freeBlocks.length - 1];
    if (last && last.offset + last.bytes === this.top) {
      this.top = last.offset;
      this.freeBlocks.pop();
    }
  }

  /** Size of a live block in bytes. */
  blockBytes(offset: number): number {
    const size = this.liveBlocks.get(offset);
    if (size === undefined) throw new Error(`simdprop: ${offset} is not a live block`);
    return size;
  }
}

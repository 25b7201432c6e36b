// Records kernel calls into a tape in the module's memory and runs them in one crossing (run_tape in
// assembly/kernels/tape.ts). A tiny network's training step is a dozen kernel calls that each cost
// less than the JS → wasm crossing around them; recorded, the step crosses once.
//
// The Tape is a Kernels (its encoder, TapeRecorder, is generated with the kernel table): code that
// drives a model runs unchanged against it. Calls that return nothing are recorded. sum_squares,
// count_nonfinite and count_outside, whose values the caller needs at once, run what is recorded and
// then themselves directly. The losses are recorded too, returning NaN: their value is lossValue()
// after run(), for the one caller (a training step) that asks for it there. clip_grad_norm is recorded
// and its norm dropped (a step clips; it does not report the norm).
import { OPCODES, RECORD_SLOTS as RECORD, RESULT_SLOT as RESULT, STOP_SLOT as STOP, TapeRecorder, type Kernels } from '../generated/kernels.js';
import type { Heap } from '../../memory/heap.js';

// A record is RECORD slots of 8 bytes (scripts/kernels.ts): the opcode, the arguments, a stop flag
// (STOP) and the result (RESULT, an f64). The opcode, the flag and integer and pointer arguments are
// int32 in the low 4 bytes of their slot (written through `ints`, at twice the slot's index); float
// arguments are f64.
/**
 * Records the tape holds before it runs what it has to make room: a step of 8 dense layers needs ~60, a
 * GPT block ~30, so 1,024 (192 KiB) keep a 30-block GPT's step whole, which its replay needs.
 */
const CAPACITY = 1024;
/** Losses one step may record (one per model output). */
const MAX_LOSSES = 16;

export type RunTape = (tape: number, count: number) => number;

export class Tape extends TapeRecorder {
  /** Byte offset of the records in the heap. */
  private readonly at: number;
  protected records: Float64Array;
  protected ints: Int32Array;
  private count = 0;
  /** Records (indices into the tape) of the losses recorded and not yet run, and their places in `losses`. */
  private readonly pendingRecords = new Int32Array(MAX_LOSSES);
  private readonly pendingPlaces = new Int32Array(MAX_LOSSES);
  private pending = 0;
  /** The values of the losses recorded since begin(), in order, once run (NaN before); the first `written` may hold values. */
  private readonly losses = new Float64Array(MAX_LOSSES).fill(NaN);
  private written = 0;
  private lossCount = 0;
  /** Whether a guard ended a run since begin(): nothing recorded after it runs. */
  private halted = false;
  /** Records made since begin(), and which of them (counting from 0) was the guard that ended a run. */
  private sequence = 0;
  private haltedAt = -1;
  /**
   * Bumped whenever records may be overwritten (begin(), a full tape run mid-recording): records made
   * in one epoch are still in memory, unchanged, while it lasts, and resume() can run them again.
   */
  private epochCount = 0;

  constructor(private readonly direct: Kernels, private readonly runTape: RunTape, private readonly heap: Heap) {
    super();
    this.at = heap.alloc(CAPACITY * RECORD * 8);
    this.records = new Float64Array(heap.memory.buffer, this.at, CAPACITY * RECORD);
    this.ints = new Int32Array(heap.memory.buffer, this.at, CAPACITY * RECORD * 2);
  }

  /** Starts a fresh recording: nothing pending, no loss, no guard tripped. */
  begin(): void {
    this.epochCount++;
    this.resume(0, this.pendingRecords, 0);
  }

  /** The current epoch (see epochCount): compare it with one saved to know the records are intact. */
  get epoch(): number {
    return this.epochCount;
  }

  /** Records made since begin() and not yet run. */
  get length(): number {
    return this.count;
  }

  /** How many losses are recorded and not yet run; pendingLoss(k) is the k-th one's record. */
  get pendingLosses(): number {
    return this.pending;
  }

  pendingLoss(k: number): number {
    return this.pendingRecords[k];
  }

  /**
   * Starts a recording that keeps the first `count` records of this epoch as they are, with `losses`
   * of them (their record indices in `records`) being losses: as if they had just been recorded again
   * after begin().
   */
  resume(count: number, records: ArrayLike<number>, losses: number): void {
    this.count = count;
    for (let k = 0; k < losses; k++) {
      this.pendingRecords[k] = records[k];
      this.pendingPlaces[k] = k;
    }
    this.pending = losses;
    this.lossCount = losses;
    for (let k = 0; k < this.written; k++) this.losses[k] = NaN;
    this.written = 0;
    this.halted = false;
    this.sequence = count;
    this.haltedAt = -1;
  }

  /** Runs every recorded call, in one crossing; after a tripped guard, drops them instead. */
  run(): void {
    const count = this.count;
    this.count = 0;
    const pending = this.pending;
    this.pending = 0;
    if (count === 0 || this.halted) return;
    const stopped = this.runTape(this.at, count);
    const view = this.view();
    for (let k = 0; k < pending; k++) {
      const record = this.pendingRecords[k];
      const place = this.pendingPlaces[k];
      if (stopped < 0 || record < stopped) this.losses[place] = view[record * RECORD + RESULT];
      if (place >= this.written) this.written = place + 1;
    }
    this.halted = stopped >= 0;
    if (this.halted) this.haltedAt = this.sequence - count + stopped;
  }

  /** The value of the `index`-th loss recorded since begin() (default the first), once run() has run it (NaN before). */
  lossValue(index = 0): number {
    return this.losses[index];
  }

  /** Whether a guard found non-finite data since begin(), ending the tape there. */
  get stopped(): boolean {
    return this.halted;
  }

  /** The number guardFinite() gave the guard that ended a run since begin(), or −1. */
  get stoppedAt(): number {
    return this.haltedAt;
  }

  /**
   * Records a count_nonfinite(x, n) that ends the tape when it finds any non-finite value: what comes
   * after it runs only for finite data. Returns the guard's number, which stoppedAt reports.
   */
  guardFinite(x: number, n: number): number {
    const r = this.open(OPCODES.count_nonfinite);
    const t = this.ints;
    t[r + 2] = x;
    t[r + 4] = n;
    t[r + 2 * STOP] = 1;
    return this.sequence - 1;
  }

  /** Records a count_outside(x, n, low, high) that ends the tape when any value is NaN or outside [low, high]. */
  guardInside(x: number, n: number, low: number, high: number): number {
    const r = this.open(OPCODES.count_outside);
    const t = this.ints;
    t[r + 2] = x;
    t[r + 4] = n;
    t[r + 2 * STOP] = 1;
    const f = this.records;
    const q = r >> 1;
    f[q + 3] = low;
    f[q + 4] = high;
    return this.sequence - 1;
  }

  // The records, re-made when the memory grew (a grown non-shared memory detaches the old view).
  private view(): Float64Array {
    if (this.records.length === 0) {
      this.records = new Float64Array(this.heap.memory.buffer, this.at, CAPACITY * RECORD);
      this.ints = new Int32Array(this.heap.memory.buffer, this.at, CAPACITY * RECORD * 2);
    }
    return this.records;
  }

  // Starts a record: returns the index of its opcode in `ints` (twice its index in `records`), both
  // views made current by view(). Argument slot k of the record is ints[r + 2k] or records[r / 2 + k].
  protected open(code: number): number {
    // Full: run what is there and go on recording, over the records of this epoch.
    if (this.count === CAPACITY) {
      this.run();
      this.epochCount++;
    }
    this.view();
    const t = this.ints;
    this.sequence++;
    const r = this.count++ * RECORD * 2;
    t[r] = code;
    t[r + 2 * STOP] = 0;
    return r;
  }

  // A kernel that returns a value, recorded: a loss, whose value lossValue(k) gives after run().
  protected recorded(): number {
    if (this.lossCount === MAX_LOSSES) throw new Error(`simdprop: a tape step records at most ${MAX_LOSSES} losses`);
    this.pendingRecords[this.pending] = this.count - 1;
    this.pendingPlaces[this.pending++] = this.lossCount++;
    return NaN;
  }

  // Clipping inside a step (trainStep({ clipNorm })): recorded, its norm (the result) not kept as a loss.
  override clip_grad_norm(x: number, n: number, maxNorm: number): number {
    const r = this.open(OPCODES.clip_grad_norm);
    const t = this.ints;
    t[r + 2] = x;
    t[r + 4] = n;
    this.records[(r >> 1) + 3] = maxNorm;
    return NaN;
  }

  // Values the caller needs now: run what is recorded, then the kernel itself.
  override sum_squares(x: number, n: number): number {
    this.run();
    return this.direct.sum_squares(x, n);
  }

  override count_nonfinite(x: number, n: number): number {
    this.run();
    return this.direct.count_nonfinite(x, n);
  }

  override count_outside(x: number, n: number, low: number, high: number): number {
    this.run();
    return this.direct.count_outside(x, n, low, high);
  }
}

// Records kernel calls into a tape in the module's memory and runs them in one crossing (run_tape in
// assembly/kernels/tape.ts). A tiny network's training step is a dozen kernel calls that each cost
// less than the JS → wasm crossing around them; recorded, the step crosses once.
//
// The Tape is a Kernels: code that drives a model runs unchanged against it. Calls that return
// nothing are recorded. sum_squares and count_nonfinite, whose values the caller needs at once, run
// what is recorded and then themselves directly. The losses are recorded too, returning NaN: their
// value is lossValue() after run(), for the one caller (a training step) that asks for it there.
import type { Kernels } from '../kernels.js';
import type { Heap } from '../../memory/heap.js';
import { KERNEL_NAMES } from './names.js';

/**
 * Slots of 8 bytes per record: opcode, up to 12 arguments, a stop flag (STOP) and the result
 * (RESULT, an f64). The opcode, the flag and integer and pointer arguments are int32 in the low 4
 * bytes of their slot (written through `ints`, at twice the slot's index); float arguments are f64.
 */
const RECORD = 16;
const STOP = 14;
const RESULT = 15;
/** Records the tape holds before it runs what it has to make room (a step of 8 layers needs ~60). */
const CAPACITY = 256;

const op = (name: (typeof KERNEL_NAMES)[number]): number => KERNEL_NAMES.indexOf(name) + 1;
const [GEMM_NN, GEMM_NT, GEMM_TN] = [op('gemm_nn'), op('gemm_nt'), op('gemm_tn')];
const [RELU_F, RELU_B, LEAKY_F, LEAKY_B] = [op('relu_forward'), op('relu_backward'), op('leaky_relu_forward'), op('leaky_relu_backward')];
const [SIGMOID_F, SIGMOID_B, TANH_F, TANH_B] = [op('sigmoid_forward'), op('sigmoid_backward'), op('tanh_forward'), op('tanh_backward')];
const [GELU_F, GELU_B, SOFTMAX_F, SOFTMAX_B] = [op('gelu_forward'), op('gelu_backward'), op('softmax_forward'), op('softmax_backward')];
const [SCE_LABELS, SCE_TARGETS] = [op('softmax_cross_entropy_labels'), op('softmax_cross_entropy_targets')];
const [BCE, BCE_LOGITS, MSE, HUBER] = [op('bce'), op('bce_with_logits'), op('mse'), op('huber')];
const [BIAS_GRAD, COUNT_NONFINITE, FILL, SCALE, AXPY] = [op('bias_grad'), op('count_nonfinite'), op('fill'), op('scale'), op('axpy')];
const [COPY, MUL, CLAMP, DROPOUT_MASK] = [op('copy'), op('mul'), op('clamp'), op('dropout_mask')];
const [SGD, ADAM, RMSPROP, COUNT_OUTSIDE] = [op('sgd_update'), op('adam_update'), op('rmsprop_update'), op('count_outside')];
const DENSE_FORWARD = op('dense_forward');

export type RunTape = (tape: number, count: number) => number;

export class Tape implements Kernels {
  /** Byte offset of the records in the heap. */
  private readonly at: number;
  private records: Float64Array;
  private ints: Int32Array;
  private count = 0;
  /** Index of the recorded loss whose value lossValue() reads, −1 when none is pending. */
  private lossRecord = -1;
  private loss = NaN;
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
    this.at = heap.alloc(CAPACITY * RECORD * 8);
    this.records = new Float64Array(heap.memory.buffer, this.at, CAPACITY * RECORD);
    this.ints = new Int32Array(heap.memory.buffer, this.at, CAPACITY * RECORD * 2);
  }

  /** Starts a fresh recording: nothing pending, no loss, no guard tripped. */
  begin(): void {
    this.epochCount++;
    this.resume(0, -1);
  }

  /** The current epoch (see epochCount): compare it with one saved to know the records are intact. */
  get epoch(): number {
    return this.epochCount;
  }

  /** Records made since begin() and not yet run. */
  get length(): number {
    return this.count;
  }

  /** The index of the recorded loss whose value lossValue() will read, −1 when none is pending. */
  get pendingLoss(): number {
    return this.lossRecord;
  }

  /**
   * Starts a recording that keeps the first `count` records of this epoch as they are, with the loss
   * at record `loss` (−1: none): as if they had just been recorded again after begin().
   */
  resume(count: number, loss: number): void {
    this.count = count;
    this.lossRecord = loss;
    this.loss = NaN;
    this.halted = false;
    this.sequence = count;
    this.haltedAt = -1;
  }

  /** Runs every recorded call, in one crossing; after a tripped guard, drops them instead. */
  run(): void {
    const count = this.count;
    this.count = 0;
    if (count === 0 || this.halted) {
      this.lossRecord = -1;
      return;
    }
    const stopped = this.runTape(this.at, count);
    if (this.lossRecord >= 0 && (stopped < 0 || this.lossRecord < stopped)) {
      this.loss = this.view()[this.lossRecord * RECORD + RESULT];
    }
    this.lossRecord = -1;
    this.halted = stopped >= 0;
    if (this.halted) this.haltedAt = this.sequence - count + stopped;
  }

  /** The value of the last loss recorded, once run() has run it (NaN before). */
  lossValue(): number {
    return this.loss;
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
    const r = this.open(COUNT_NONFINITE);
    const t = this.ints;
    t[r + 2] = x;
    t[r + 4] = n;
    t[r + 2 * STOP] = 1;
    return this.sequence - 1;
  }

  /** Records a count_outside(x, n, low, high) that ends the tape when any value is NaN or outside [low, high]. */
  guardInside(x: number, n: number, low: number, high: number): number {
    const r = this.open(COUNT_OUTSIDE);
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
  private open(code: number): number {
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

  // Argument k of the record at r (from open()) is ints[r + 2k] for an integer or pointer and
  // records[(r >> 1) + k] for a float.
  gemm_nn(out: number, x: number, w: number, bias: number, M: number, K: number, N: number, scratch: number): void {
    const r = this.open(GEMM_NN);
    const t = this.ints;
    t[r + 2] = out; t[r + 4] = x; t[r + 6] = w; t[r + 8] = bias; t[r + 10] = M; t[r + 12] = K; t[r + 14] = N; t[r + 16] = scratch;
  }

  dense_forward(
    z: number, a: number, x: number, w: number, bias: number, M: number, K: number, N: number,
    activation: number, slope: number, scratch: number,
  ): void {
    const r = this.open(DENSE_FORWARD);
    const t = this.ints;
    t[r + 2] = z; t[r + 4] = a; t[r + 6] = x; t[r + 8] = w; t[r + 10] = bias; t[r + 12] = M; t[r + 14] = K; t[r + 16] = N;
    t[r + 18] = activation; t[r + 22] = scratch;
    this.records[(r >> 1) + 10] = slope;
  }

  gemm_nt(out: number, a: number, b: number, M: number, K: number, N: number, scratch: number): void {
    const r = this.open(GEMM_NT);
    const t = this.ints;
    t[r + 2] = out; t[r + 4] = a; t[r + 6] = b; t[r + 8] = M; t[r + 10] = K; t[r + 12] = N; t[r + 14] = scratch;
  }

  gemm_tn(out: number, a: number, b: number, M: number, K: number, N: number, lda: number, accumulate: number, scratch: number): void {
    const r = this.open(GEMM_TN);
    const t = this.ints;
    t[r + 2] = out; t[r + 4] = a; t[r + 6] = b; t[r + 8] = M; t[r + 10] = K; t[r + 12] = N; t[r + 14] = lda; t[r + 16] = accumulate;
    t[r + 18] = scratch;
  }

  // Records of three, four and five integer or pointer arguments; `floats` more after them, as f64.
  private ints3(code: number, a: number, b: number, c: number): number {
    const r = this.open(code);
    const t = this.ints;
    t[r + 2] = a; t[r + 4] = b; t[r + 6] = c;
    return r >> 1;
  }

  private ints4(code: number, a: number, b: number, c: number, d: number): number {
    const r = this.open(code);
    const t = this.ints;
    t[r + 2] = a; t[r + 4] = b; t[r + 6] = c; t[r + 8] = d;
    return r >> 1;
  }

  private ints5(code: number, a: number, b: number, c: number, d: number, e: number): void {
    const r = this.open(code);
    const t = this.ints;
    t[r + 2] = a; t[r + 4] = b; t[r + 6] = c; t[r + 8] = d; t[r + 10] = e;
  }

  // Two integers then one or two floats: (x, n, value), (x, n, low, high).
  private intsThenFloats(code: number, a: number, b: number, first: number, second: number): void {
    const r = this.open(code);
    const t = this.ints;
    t[r + 2] = a; t[r + 4] = b;
    const f = this.records;
    f[(r >> 1) + 3] = first;
    f[(r >> 1) + 4] = second;
  }

  relu_forward(out: number, z: number, n: number): void { this.ints3(RELU_F, out, z, n); }
  relu_backward(dz: number, da: number, a: number, n: number): void { this.ints4(RELU_B, dz, da, a, n); }
  leaky_relu_forward(out: number, z: number, n: number, slope: number): void { this.records[this.ints3(LEAKY_F, out, z, n) + 4] = slope; }
  leaky_relu_backward(dz: number, da: number, z: number, n: number, slope: number): void { this.records[this.ints4(LEAKY_B, dz, da, z, n) + 5] = slope; }
  sigmoid_forward(out: number, z: number, n: number): void { this.ints3(SIGMOID_F, out, z, n); }
  sigmoid_backward(dz: number, da: number, a: number, n: number): void { this.ints4(SIGMOID_B, dz, da, a, n); }
  tanh_forward(out: number, z: number, n: number): void { this.ints3(TANH_F, out, z, n); }
  tanh_backward(dz: number, da: number, a: number, n: number): void { this.ints4(TANH_B, dz, da, a, n); }
  gelu_forward(out: number, z: number, n: number): void { this.ints3(GELU_F, out, z, n); }
  gelu_backward(dz: number, da: number, z: number, n: number): void { this.ints4(GELU_B, dz, da, z, n); }
  softmax_forward(out: number, z: number, rows: number, cols: number): void { this.ints4(SOFTMAX_F, out, z, rows, cols); }
  softmax_backward(dz: number, da: number, a: number, rows: number, cols: number): void { this.ints5(SOFTMAX_B, dz, da, a, rows, cols); }

  // The losses: recorded; the value comes from lossValue() after run().
  private recordLoss(): number {
    this.lossRecord = this.count - 1;
    return NaN;
  }

  softmax_cross_entropy_labels(grad: number, logits: number, labels: number, rows: number, cols: number): number {
    this.ints5(SCE_LABELS, grad, logits, labels, rows, cols);
    return this.recordLoss();
  }
  softmax_cross_entropy_targets(grad: number, logits: number, targets: number, rows: number, cols: number): number {
    this.ints5(SCE_TARGETS, grad, logits, targets, rows, cols);
    return this.recordLoss();
  }
  bce(grad: number, probs: number, targets: number, n: number): number {
    this.ints4(BCE, grad, probs, targets, n);
    return this.recordLoss();
  }
  bce_with_logits(grad: number, logits: number, targets: number, n: number): number {
    this.ints4(BCE_LOGITS, grad, logits, targets, n);
    return this.recordLoss();
  }
  mse(grad: number, pred: number, targets: number, n: number): number {
    this.ints4(MSE, grad, pred, targets, n);
    return this.recordLoss();
  }
  huber(grad: number, pred: number, targets: number, n: number, delta: number): number {
    this.records[this.ints4(HUBER, grad, pred, targets, n) + 5] = delta;
    return this.recordLoss();
  }

  bias_grad(db: number, dz: number, rows: number, cols: number, accumulate: number): void { this.ints5(BIAS_GRAD, db, dz, rows, cols, accumulate); }

  // Values the caller needs now: run what is recorded, then the kernel itself.
  sum_squares(x: number, n: number): number {
    this.run();
    return this.direct.sum_squares(x, n);
  }
  count_nonfinite(x: number, n: number): number {
    this.run();
    return this.direct.count_nonfinite(x, n);
  }

  count_outside(x: number, n: number, low: number, high: number): number {
    this.run();
    return this.direct.count_outside(x, n, low, high);
  }

  fill(x: number, n: number, value: number): void { this.intsThenFloats(FILL, x, n, value, 0); }
  scale(x: number, n: number, s: number): void { this.intsThenFloats(SCALE, x, n, s, 0); }
  axpy(y: number, x: number, n: number, a: number): void { this.records[this.ints3(AXPY, y, x, n) + 4] = a; }
  copy(dst: number, src: number, n: number): void { this.ints3(COPY, dst, src, n); }
  clamp(x: number, n: number, low: number, high: number): void { this.intsThenFloats(CLAMP, x, n, low, high); }
  mul(out: number, a: number, b: number, n: number): void { this.ints4(MUL, out, a, b, n); }
  dropout_mask(mask: number, n: number, rate: number, seed: number, stream: number): void {
    const r = this.open(DROPOUT_MASK);
    const t = this.ints;
    t[r + 2] = mask; t[r + 4] = n; t[r + 8] = seed; t[r + 10] = stream;
    this.records[(r >> 1) + 3] = rate;
  }

  sgd_update(
    params: number, grads: number, velocity: number, n: number,
    lr: number, momentum: number, dampening: number, nesterov: number, weightDecay: number, firstStep: number,
  ): void {
    const q = this.ints4(SGD, params, grads, velocity, n);
    const f = this.records;
    f[q + 5] = lr; f[q + 6] = momentum; f[q + 7] = dampening; f[q + 9] = weightDecay;
    const t = this.ints;
    t[2 * q + 16] = nesterov; t[2 * q + 20] = firstStep;
  }

  adam_update(
    params: number, grads: number, expAvg: number, expAvgSq: number, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: number, step: number,
  ): void {
    const r = this.open(ADAM);
    const t = this.ints;
    t[r + 2] = params; t[r + 4] = grads; t[r + 6] = expAvg; t[r + 8] = expAvgSq; t[r + 10] = n;
    t[r + 22] = decoupled; t[r + 24] = step;
    const f = this.records;
    const q = r >> 1;
    f[q + 6] = lr; f[q + 7] = beta1; f[q + 8] = beta2; f[q + 9] = eps; f[q + 10] = weightDecay;
  }

  rmsprop_update(
    params: number, grads: number, squareAvg: number, gradAvg: number, momentumBuffer: number, n: number,
    lr: number, alpha: number, eps: number, weightDecay: number, momentum: number, centered: number,
  ): void {
    const r = this.open(RMSPROP);
    const t = this.ints;
    t[r + 2] = params; t[r + 4] = grads; t[r + 6] = squareAvg; t[r + 8] = gradAvg; t[r + 10] = momentumBuffer; t[r + 12] = n;
    t[r + 24] = centered;
    const f = this.records;
    const q = r >> 1;
    f[q + 7] = lr; f[q + 8] = alpha; f[q + 9] = eps; f[q + 10] = weightDecay; f[q + 11] = momentum;
  }
}

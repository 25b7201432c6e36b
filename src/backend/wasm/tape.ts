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

/** Floats per record: opcode, up to 12 arguments, a stop flag (STOP) and the result (RESULT). */
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
  }

  /** Starts a fresh recording: nothing pending, no loss, no guard tripped. */
  begin(): void {
    this.epochCount++;
    this.count = 0;
    this.lossRecord = -1;
    this.loss = NaN;
    this.halted = false;
    this.sequence = 0;
    this.haltedAt = -1;
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
    const t = this.records;
    t[r + 1] = x;
    t[r + 2] = n;
    t[r + STOP] = 1;
    return this.sequence - 1;
  }

  /** Records a count_outside(x, n, low, high) that ends the tape when any value is NaN or outside [low, high]. */
  guardInside(x: number, n: number, low: number, high: number): number {
    const r = this.open(COUNT_OUTSIDE);
    const t = this.records;
    t[r + 1] = x;
    t[r + 2] = n;
    t[r + 3] = low;
    t[r + 4] = high;
    t[r + STOP] = 1;
    return this.sequence - 1;
  }

  // The records, re-made when the memory grew (a grown non-shared memory detaches the old view).
  private view(): Float64Array {
    if (this.records.length === 0) this.records = new Float64Array(this.heap.memory.buffer, this.at, CAPACITY * RECORD);
    return this.records;
  }

  // Starts a record: returns the index of its opcode in `records` (which view() has made current).
  private open(code: number): number {
    // Full: run what is there and go on recording, over the records of this epoch.
    if (this.count === CAPACITY) {
      this.run();
      this.epochCount++;
    }
    const t = this.view();
    this.sequence++;
    const r = this.count++ * RECORD;
    t[r] = code;
    t[r + STOP] = 0;
    return r;
  }

  gemm_nn(out: number, x: number, w: number, bias: number, M: number, K: number, N: number, scratch: number): void {
    const r = this.open(GEMM_NN);
    const t = this.records;
    t[r + 1] = out; t[r + 2] = x; t[r + 3] = w; t[r + 4] = bias; t[r + 5] = M; t[r + 6] = K; t[r + 7] = N; t[r + 8] = scratch;
  }

  dense_forward(
    z: number, a: number, x: number, w: number, bias: number, M: number, K: number, N: number,
    activation: number, slope: number, scratch: number,
  ): void {
    const r = this.open(DENSE_FORWARD);
    const t = this.records;
    t[r + 1] = z; t[r + 2] = a; t[r + 3] = x; t[r + 4] = w; t[r + 5] = bias; t[r + 6] = M; t[r + 7] = K; t[r + 8] = N;
    t[r + 9] = activation; t[r + 10] = slope; t[r + 11] = scratch;
  }

  gemm_nt(out: number, a: number, b: number, M: number, K: number, N: number, scratch: number): void {
    const r = this.open(GEMM_NT);
    const t = this.records;
    t[r + 1] = out; t[r + 2] = a; t[r + 3] = b; t[r + 4] = M; t[r + 5] = K; t[r + 6] = N; t[r + 7] = scratch;
  }

  gemm_tn(out: number, a: number, b: number, M: number, K: number, N: number, lda: number, scratch: number): void {
    const r = this.open(GEMM_TN);
    const t = this.records;
    t[r + 1] = out; t[r + 2] = a; t[r + 3] = b; t[r + 4] = M; t[r + 5] = K; t[r + 6] = N; t[r + 7] = lda; t[r + 8] = scratch;
  }

  // (out|dz, z|da, n) and (dz, da, a|z, n), with an optional trailing slope.
  private three(code: number, a: number, b: number, n: number): void {
    const r = this.open(code);
    const t = this.records;
    t[r + 1] = a; t[r + 2] = b; t[r + 3] = n;
  }

  private four(code: number, a: number, b: number, c: number, d: number): void {
    const r = this.open(code);
    const t = this.records;
    t[r + 1] = a; t[r + 2] = b; t[r + 3] = c; t[r + 4] = d;
  }

  private five(code: number, a: number, b: number, c: number, d: number, e: number): void {
    const r = this.open(code);
    const t = this.records;
    t[r + 1] = a; t[r + 2] = b; t[r + 3] = c; t[r + 4] = d; t[r + 5] = e;
  }

  relu_forward(out: number, z: number, n: number): void { this.three(RELU_F, out, z, n); }
  relu_backward(dz: number, da: number, a: number, n: number): void { this.four(RELU_B, dz, da, a, n); }
  leaky_relu_forward(out: number, z: number, n: number, slope: number): void { this.four(LEAKY_F, out, z, n, slope); }
  leaky_relu_backward(dz: number, da: number, z: number, n: number, slope: number): void { this.five(LEAKY_B, dz, da, z, n, slope); }
  sigmoid_forward(out: number, z: number, n: number): void { this.three(SIGMOID_F, out, z, n); }
  sigmoid_backward(dz: number, da: number, a: number, n: number): void { this.four(SIGMOID_B, dz, da, a, n); }
  tanh_forward(out: number, z: number, n: number): void { this.three(TANH_F, out, z, n); }
  tanh_backward(dz: number, da: number, a: number, n: number): void { this.four(TANH_B, dz, da, a, n); }
  gelu_forward(out: number, z: number, n: number): void { this.three(GELU_F, out, z, n); }
  gelu_backward(dz: number, da: number, z: number, n: number): void { this.four(GELU_B, dz, da, z, n); }
  softmax_forward(out: number, z: number, rows: number, cols: number): void { this.four(SOFTMAX_F, out, z, rows, cols); }
  softmax_backward(dz: number, da: number, a: number, rows: number, cols: number): void { this.five(SOFTMAX_B, dz, da, a, rows, cols); }

  // The losses: recorded; the value comes from lossValue() after run().
  private recordLoss(): number {
    this.lossRecord = this.count - 1;
    return NaN;
  }

  softmax_cross_entropy_labels(grad: number, logits: number, labels: number, rows: number, cols: number): number {
    this.five(SCE_LABELS, grad, logits, labels, rows, cols);
    return this.recordLoss();
  }
  softmax_cross_entropy_targets(grad: number, logits: number, targets: number, rows: number, cols: number): number {
    this.five(SCE_TARGETS, grad, logits, targets, rows, cols);
    return this.recordLoss();
  }
  bce(grad: number, probs: number, targets: number, n: number): number {
    this.four(BCE, grad, probs, targets, n);
    return this.recordLoss();
  }
  bce_with_logits(grad: number, logits: number, targets: number, n: number): number {
    this.four(BCE_LOGITS, grad, logits, targets, n);
    return this.recordLoss();
  }
  mse(grad: number, pred: number, targets: number, n: number): number {
    this.four(MSE, grad, pred, targets, n);
    return this.recordLoss();
  }
  huber(grad: number, pred: number, targets: number, n: number, delta: number): number {
    this.five(HUBER, grad, pred, targets, n, delta);
    return this.recordLoss();
  }

  bias_grad(db: number, dz: number, rows: number, cols: number): void { this.four(BIAS_GRAD, db, dz, rows, cols); }

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

  fill(x: number, n: number, value: number): void { this.three(FILL, x, n, value); }
  scale(x: number, n: number, s: number): void { this.three(SCALE, x, n, s); }
  axpy(y: number, x: number, n: number, a: number): void { this.four(AXPY, y, x, n, a); }
  copy(dst: number, src: number, n: number): void { this.three(COPY, dst, src, n); }
  clamp(x: number, n: number, low: number, high: number): void { this.four(CLAMP, x, n, low, high); }
  mul(out: number, a: number, b: number, n: number): void { this.four(MUL, out, a, b, n); }
  dropout_mask(mask: number, n: number, rate: number, seed: number, stream: number): void { this.five(DROPOUT_MASK, mask, n, rate, seed, stream); }

  sgd_update(
    params: number, grads: number, velocity: number, n: number,
    lr: number, momentum: number, dampening: number, nesterov: number, weightDecay: number, firstStep: number,
  ): void {
    const r = this.open(SGD);
    const t = this.records;
    t[r + 1] = params; t[r + 2] = grads; t[r + 3] = velocity; t[r + 4] = n;
    t[r + 5] = lr; t[r + 6] = momentum; t[r + 7] = dampening; t[r + 8] = nesterov; t[r + 9] = weightDecay; t[r + 10] = firstStep;
  }

  adam_update(
    params: number, grads: number, expAvg: number, expAvgSq: number, n: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: number, step: number,
  ): void {
    const r = this.open(ADAM);
    const t = this.records;
    t[r + 1] = params; t[r + 2] = grads; t[r + 3] = expAvg; t[r + 4] = expAvgSq; t[r + 5] = n;
    t[r + 6] = lr; t[r + 7] = beta1; t[r + 8] = beta2; t[r + 9] = eps; t[r + 10] = weightDecay; t[r + 11] = decoupled; t[r + 12] = step;
  }

  rmsprop_update(
    params: number, grads: number, squareAvg: number, gradAvg: number, momentumBuffer: number, n: number,
    lr: number, alpha: number, eps: number, weightDecay: number, momentum: number, centered: number,
  ): void {
    const r = this.open(RMSPROP);
    const t = this.records;
    t[r + 1] = params; t[r + 2] = grads; t[r + 3] = squareAvg; t[r + 4] = gradAvg; t[r + 5] = momentumBuffer; t[r + 6] = n;
    t[r + 7] = lr; t[r + 8] = alpha; t[r + 9] = eps; t[r + 10] = weightDecay; t[r + 11] = momentum; t[r + 12] = centered;
  }
}

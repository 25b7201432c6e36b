// A stack of dense layers trained by backpropagation, over one block of its backend's memory laid out
// params | grads | optimizer state slots | activations and deltas (for `capacity` rows).
// Params, grads and every state slot share one layout, so each is one kernel call over the block.
import { activationBackward, activationCode, keepsPreActivation, usesHeInit } from './activations.js';
import type { Backend, BackendName } from './backend/backend.js';
import { gemmScratchBytes, type Kernels } from './backend/kernels.js';
import {
  checkTargetValues, copyTargets, matrixRows, nonFiniteError, targetsAreLabels, writeLabels, writeMatrix,
  type Matrix, type Targets,
} from './data.js';
import { SimdpropError, describe } from './errors.js';
import { getBackend } from './init.js';
import { Dense } from './layers/dense.js';
import { Dropout } from './layers/dropout.js';
import { checkLoss, checkLossFitsOutput, huberDelta, runLoss, targetsAreProbabilities, type LossName, type LossOptions } from './losses.js';
import { Rng } from './rng.js';
import { evaluate, fit, type EvaluateOptions, type FitOptions, type History } from './fit.js';
import { clipGradNorm } from './optim/clip.js';
import type { EpochLogs } from './train/callbacks.js';
import { loadModel, saveModel, type LoadOptions, type SaveOptions } from './io/model-file.js';
import type { Optimizer } from './optim/optimizer.js';
import type { Tape } from './backend/wasm/tape.js';
import { MIN_SPLIT_MACS, MIN_SPLIT_PARAMS } from './threads/threaded.js';

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

export interface SequentialOptions {
  /** Seed of the weight initialization: the same seed gives the same weights (default 0). */
  seed?: number;
  /** Which backend the model runs on (default: the one init() chose). */
  backend?: BackendName;
}

/**
 * One parameter tensor and its gradient. `value` and `grad` are zero-copy views into the model's memory,
 * re-made on access whenever the memory has moved (a larger batch, a new optimizer, memory growth), so
 * read them through this object rather than keeping the arrays across calls that train or grow the model.
 */
export class NamedParameter {
  private valueView: Float32Array | undefined;
  private gradView: Float32Array | undefined;

  /** @internal */
  constructor(
    private readonly model: Sequential,
    /** e.g. "layers.0.weight" ([inputSize, outputSize]) or "layers.0.bias" ([outputSize]). */
    readonly name: string,
    readonly shape: readonly number[],
    /** Byte offset of the tensor within the params (and grads) section. */
    private readonly offset: number,
    readonly size: number,
  ) {}

  get value(): Float32Array {
    return (this.valueView = this.view(this.valueView, this.model.paramsPointer));
  }

  get grad(): Float32Array {
    return (this.gradView = this.view(this.gradView, this.model.gradsPointer));
  }

  private view(cached: Float32Array | undefined, section: number): Float32Array {
    const f32 = this.model.backend.heap.f32;
    const start = section + this.offset;
    if (cached && cached.buffer === f32.buffer && cached.byteOffset === start) return cached;
    return new Float32Array(f32.buffer, start, this.size);
  }
}

export interface TrainStepOptions extends LossOptions {
  loss: LossName;
  optimizer: Optimizer;
}

// Where a layer's tensors sit: bytes from the start of the params section (the grads section has the
// same layout) and from the start of the block for its activations.
interface LayerPlacement {
  weight: number;
  bias: number;
  z: number;
  a: number;
  delta: number;
  /** With dropout after the layer: its output a ⊙ mask, and the mask; else 0. */
  dropped: number;
  mask: number;
}

type Phase = 'none' | 'forward' | 'loss' | 'backward';

const ALIGN_FLOATS = 16;
const alignFloats = (count: number): number => Math.ceil(count / ALIGN_FLOATS) * ALIGN_FLOATS;

// Frees a model's block if the model is garbage-collected without dispose(): a safety net only, and
// absent where the runtime has no FinalizationRegistry (workerd).
const blocks = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry<{ backend: Backend; block: number }>((cell) => cell.backend.heap.free(cell.block))
  : undefined;

/** What a model's kept tape records were recorded for (see Sequential's replay). */
interface StepReplay {
  /** The tape's epoch when they were recorded; −1: nothing kept. */
  epoch: number;
  count: number;
  loss: number;
  block: number;
  layout: number;
  rows: number;
  kind: LossName;
  labels: boolean;
  delta: number;
  firstDeltaAt: number;
  trainable: boolean[];
  /** Records up to and with the update (−1: only `count` kept), and what the update was recorded for. */
  total: number;
  optimizer: Optimizer | undefined;
  lr: number;
  signature: number;
}

export class Sequential {
  /** The dense layers (dropout is a property of the layer it follows: see dropoutRates). */
  readonly layers: readonly Dense[];
  /** Dropout rate after each dense layer (0: none). */
  readonly dropoutRates: readonly number[];
  readonly backend: Backend;
  /** Training mode (the default) applies dropout; eval mode does not. predict() and evaluate() always evaluate. */
  training = true;
  /** Number of trainable scalars (weights and biases). */
  readonly parameterCount: number;
  /** @internal Floats in each of the params, grads and state sections (tensors padded to 64 bytes). */
  readonly sectionFloats: number;
  private readonly placements: LayerPlacement[];
  private readonly tensorStarts: number[] = [];
  private readonly tensorLayers: number[] = [];
  private readonly tensorBias: boolean[] = [];
  private readonly cell: { backend: Backend; block: number };
  private stateSlots = 0;
  private capacity = 0;
  private inputAt = 0;
  private outputGradAt = 0;
  private targetsAt = 0;
  private inputGradAt = 0;
  private scratchAt = 0;
  private firstDeltaAt = 0;
  private batch = 0;
  private phase: Phase = 'none';
  private inputGradReady = false;
  private disposed = false;
  private readonly seed: number;
  private dropoutActive = false;
  /** Whether any layer is followed by dropout. */
  private readonly hasDropout: boolean;
  /** Set when an optimizer steps, cleared by zeroGrad: a backward() then adds to gradients already used. */
  private gradientsUsed = false;
  private warnedAccumulation = false;
  private dropoutStream = 0;
  private outputView: Float32Array | undefined;
  /** The backend's tape while a training step records its kernel calls into it. */
  private recording: Tape | undefined = undefined;
  /** Bumped by every relayout: the regions' offsets within the block changed. */
  private layoutVersion = 0;
  /**
   * The tape records of this model's last trainStep — the checks of x and y, zeroing the gradients,
   * forward, loss and backward, then the update — and what they were recorded for. A step of the same
   * shape runs the first part again instead of recording it anew, and the update too while the
   * optimizer, its learning rate and its step signature (Optimizer.stepSignature) are the same.
   */
  private readonly replay: StepReplay = {
    epoch: -1, count: 0, loss: -1, block: 0, layout: 0, rows: 0, kind: 'mse', labels: false, delta: 0, firstDeltaAt: 0, trainable: [],
    total: -1, optimizer: undefined, lr: NaN, signature: NaN,
  };
  /** in × out of the widest layer: the largest product per row of a batch. */
  private readonly widestProduct: number;
  private inputGradView: Float32Array | undefined;

  constructor(stack: (Dense | Dropout)[], options: SequentialOptions = {}) {
    if (!Array.isArray(stack) || stack.length === 0) {
      throw new SimdpropError('OPTION', `Sequential needs a non-empty array of layers, got ${describe(stack)}`);
    }
    const layers: Dense[] = [];
    const rates: number[] = [];
    stack.forEach((layer, i) => {
      if (layer instanceof Dropout) {
        if (layers.length === 0) throw new SimdpropError('OPTION', `layers[${i}] is dropout, which must follow a dense layer`);
        if (rates[layers.length - 1] !== 0) throw new SimdpropError('OPTION', `layers[${i}] is a second dropout after one dense layer`);
        rates[layers.length - 1] = layer.rate;
        return;
      }
      if (!(layer instanceof Dense)) throw new SimdpropError('TYPE', `layers[${i}] must be a layer made by dense() or dropout(), got ${describe(layer)}`);
      const previous = layers[layers.length - 1];
      if (previous && layer.inputSize !== previous.outputSize) {
        throw new SimdpropError('SHAPE',
          `layers[${i}] takes ${layer.inputSize} inputs but the dense layer before it gives ${previous.outputSize}`);
      }
      layers.push(layer);
      rates.push(0);
    });
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new SimdpropError('OPTION', `seed must be an integer, got ${describe(seed)}`);
    this.backend = getBackend(options.backend);
    this.layers = layers;
    this.dropoutRates = rates;
    this.hasDropout = rates.some((rate) => rate > 0);
    this.seed = seed;
    let floats = 0;
    let count = 0;
    this.placements = this.layers.map((layer) => {
      const weight = floats * 4;
      floats += alignFloats(layer.weightCount);
      const bias = floats * 4;
      if (layer.hasBias) floats += alignFloats(layer.outputSize);
      count += layer.weightCount + (layer.hasBias ? layer.outputSize : 0);
      return { weight, bias, z: 0, a: 0, delta: 0, dropped: 0, mask: 0 };
    });
    this.sectionFloats = floats;
    this.parameterCount = count;
    this.widestProduct = Math.max(...layers.map((layer) => layer.weightCount));
    this.placements.forEach((placement, i) => {
      for (const bias of this.layers[i].hasBias ? [false, true] : [false]) {
        this.tensorStarts.push((bias ? placement.bias : placement.weight) >> 2);
        this.tensorLayers.push(i);
        this.tensorBias.push(bias);
      }
    });
    this.cell = { backend: this.backend, block: 0 };
    this.relayout(1, 0);
    this.initializeWeights(new Rng(seed));
    blocks?.register(this, this.cell, this);
  }

  get inputSize(): number {
    return this.layers[0].inputSize;
  }

  get outputSize(): number {
    return this.layers[this.layers.length - 1].outputSize;
  }

  /** @internal The kernels the model's work goes to: the backend's, or its tape while a step records. */
  get kernels(): Kernels {
    return this.recording ?? this.backend.kernels;
  }

  /**
   * The tape a step on `rows` rows may record into: the wasm backend's, unless one of the step's
   * products or its update is large enough for the threads to split (they run from JavaScript).
   */
  private tapeFor(rows: number): Tape | undefined {
    const { tape, threads } = this.backend;
    if (tape === undefined) return undefined;
    if (threads > 1 && (rows * this.widestProduct >= MIN_SPLIT_MACS || this.sectionFloats >= MIN_SPLIT_PARAMS)) return undefined;
    return tape;
  }

  private get outputLayer(): Dense {
    return this.layers[this.layers.length - 1];
  }

  /** @internal Byte offset of the params section. */
  get paramsPointer(): number {
    return this.cell.block;
  }

  /** @internal Byte offset of the grads section. */
  get gradsPointer(): number {
    return this.cell.block + this.sectionFloats * 4;
  }

  /** @internal How many optimizer state slots the block holds. */
  get stateSlotCount(): number {
    return this.stateSlots;
  }

  /** @internal Byte offset of optimizer state slot `slot`. */
  statePointer(slot: number): number {
    return this.cell.block + (2 + slot) * this.sectionFloats * 4;
  }

  /** @internal How many parameter tensors (weights and biases) the model has. */
  get tensorCount(): number {
    return this.tensorStarts.length;
  }

  /** @internal The dense layer tensor t belongs to. */
  tensorLayer(t: number): number {
    return this.tensorLayers[t];
  }

  /** @internal Whether tensor t is a bias. */
  tensorIsBias(t: number): boolean {
    return this.tensorBias[t];
  }

  /** @internal Float offset of tensor t in the params section. */
  tensorStart(t: number): number {
    return this.tensorStarts[t];
  }

  /** @internal Where tensor t's span ends: the next tensor's start (padding included), or the section's end. */
  tensorEnd(t: number): number {
    return t + 1 < this.tensorStarts.length ? this.tensorStarts[t + 1] : this.sectionFloats;
  }

  /** @internal Adds `count` zeroed state slots for an optimizer; returns the first slot's index. */
  reserveStateSlots(count: number): number {
    this.checkAlive();
    const first = this.stateSlots;
    this.relayout(this.capacity, first + count);
    return first;
  }

  // Moves the model to a block sized for `capacity` rows and `slots` state slots, keeping params,
  // grads and state; activations are not kept.
  private relayout(capacity: number, slots: number): void {
    this.layoutVersion++;
    const section = this.sectionFloats * 4;
    let cursor = (2 + slots) * section;
    const region = (floats: number): number => {
      const at = cursor;
      cursor += alignFloats(floats) * 4;
      return at;
    };
    this.inputAt = region(capacity * this.inputSize);
    this.layers.forEach((layer, i) => {
      const placement = this.placements[i];
      const rows = capacity * layer.outputSize;
      placement.z = region(rows);
      placement.a = layer.activation === 'linear' || !keepsPreActivation(layer.activation) ? placement.z : region(rows);
      placement.delta = region(rows);
      placement.dropped = this.dropoutRates[i] > 0 ? region(rows) : 0;
      placement.mask = this.dropoutRates[i] > 0 ? region(rows) : 0;
    });
    this.outputGradAt = region(capacity * this.outputSize);
    this.targetsAt = region(capacity * this.outputSize);
    this.inputGradAt = region(capacity * this.inputSize);
    // GEMM scratch for the largest inner dimension: a layer's inputs (forward), outputs (input
    // gradient) or the batch (weight gradient).
    const widest = this.layers.reduce((most, layer) => Math.max(most, layer.inputSize, layer.outputSize), capacity);
    const widestInput = this.layers.reduce((most, layer) => Math.max(most, layer.inputSize), 0);
    this.scratchAt = region(Math.max(gemmScratchBytes(widest), gemmScratchBytes(capacity, widestInput)) / 4);
    const heap = this.backend.heap;
    const block = heap.alloc(cursor);
    const old = this.cell.block;
    if (old !== 0) {
      this.kernels.copy(block, old, (2 + this.stateSlots) * this.sectionFloats);
      heap.free(old);
    } else {
      this.kernels.fill(block, 2 * this.sectionFloats, 0);
    }
    if (slots > this.stateSlots) {
      this.kernels.fill(block + (2 + this.stateSlots) * section, (slots - this.stateSlots) * this.sectionFloats, 0);
    }
    this.cell.block = block;
    this.capacity = capacity;
    this.stateSlots = slots;
    this.batch = 0;
    this.phase = 'none';
    this.outputView = undefined;
    this.inputGradView = undefined;
  }

  private initializeWeights(rng: Rng): void {
    const f32 = this.backend.heap.f32;
    this.layers.forEach((layer, i) => {
      const start = (this.paramsPointer + this.placements[i].weight) >> 2;
      if (usesHeInit(layer.activation)) {
        const slope = layer.activation === 'leakyRelu' ? layer.negativeSlope : 0;
        const std = Math.sqrt(2 / ((1 + slope * slope) * layer.inputSize));
        for (let j = 0; j < layer.weightCount; j++) f32[start + j] = rng.normal() * std;
      } else {
        const limit = Math.sqrt(6 / (layer.inputSize + layer.outputSize));
        for (let j = 0; j < layer.weightCount; j++) f32[start + j] = (2 * rng.uniform() - 1) * limit;
      }
    });
  }

  private checkAlive(): void {
    if (this.disposed) throw new SimdpropError('DISPOSED', 'this model was disposed: create or load a new one');
  }

  private ensureCapacity(rows: number): void {
    if (rows <= this.capacity) return;
    try {
      this.relayout(rows, this.stateSlots);
    } catch (error) {
      // The new block is reserved before the old one is given up: the model is as it was.
      if (error instanceof RangeError) {
        throw new SimdpropError('MEMORY', `a batch of ${rows} rows needs more memory than the backend can grow to ` +
          `(${error.message.replace(/^simdprop: /, '')}): use smaller batches (predict() and evaluate() take a batchSize)`);
      }
      throw error;
    }
  }

  // Checks x and copies it into the input region; afterwards nothing but activations has changed.
  // With a tape, the finiteness check is recorded as the tape's guard rather than run.
  private stageInput(x: unknown, what: string, guard?: Tape): number {
    const rows = matrixRows(x, this.inputSize, what);
    return this.stageRows(x, rows, what, guard);
  }

  private stageRows(x: unknown, rows: number, what: string, guard: Tape | undefined): number {
    const at = this.copyRows(x, rows, what);
    const n = rows * this.inputSize;
    if (guard !== undefined) guard.guardFinite(at, n);
    else if (this.kernels.count_nonfinite(at, n) !== 0) throw nonFiniteError(this.backend.heap.f32, at >> 2, n, this.inputSize, what);
    return rows;
  }

  // Makes room for `rows` rows and copies x into the input region (x's shape and type were checked by
  // matrixRows, its values are not); returns the region's byte offset.
  private copyRows(x: unknown, rows: number, what: string): number {
    this.ensureCapacity(rows);
    this.batch = 0;
    this.phase = 'none';
    const at = this.cell.block + this.inputAt;
    writeMatrix(this.backend.heap.f32, at >> 2, x as Matrix, this.inputSize, what);
    return at;
  }

  // Checks y against the loss and the batch and copies it into the targets region; returns whether
  // it holds class labels. With a tape, the check of float targets' values is a guard on the tape
  // (trainStep names the offender when it stops the step).
  private stageTargets(loss: LossName, y: unknown, rows: number, guard?: Tape): boolean {
    if (this.copyTargetsIn(loss, y, rows)) return true;
    if (guard !== undefined) {
      this.guardTargets(guard, loss, rows);
      return false;
    }
    const at = this.cell.block + this.targetsAt;
    checkTargetValues(this.backend.heap.f32, at >> 2, rows * this.outputSize, this.outputSize, targetsAreProbabilities(loss), 'y');
    return false;
  }

  // Records the check of the float targets in the targets region as a guard on the tape.
  private guardTargets(tape: Tape, loss: LossName, rows: number): void {
    const at = this.cell.block + this.targetsAt;
    const n = rows * this.outputSize;
    // The largest float32 bounds: ±Infinity lie outside, as the JS check has it.
    if (targetsAreProbabilities(loss)) tape.guardInside(at, n, 0, 1);
    else tape.guardInside(at, n, -FLOAT32_MAX, FLOAT32_MAX);
  }

  // stageTargets but the check of float targets' values: the type and shape checks (and the labels'
  // range) and the copy. Returns whether y holds class labels.
  private copyTargetsIn(loss: LossName, y: unknown, rows: number): boolean {
    const at = this.cell.block + this.targetsAt;
    const heap = this.backend.heap;
    if (loss === 'softmaxCrossEntropy' && targetsAreLabels(y)) {
      writeLabels(heap.i32, at >> 2, y as Int32Array | number[], rows, this.outputSize, 'y');
      return true;
    }
    if (y instanceof Int32Array || Array.isArray(y) || y instanceof Float32Array) {
      copyTargets(heap.f32, at >> 2, y as Targets, rows, this.outputSize, 'y');
      return false;
    }
    throw new SimdpropError('TYPE',
      `y must be class labels (Int32Array or number[]) or targets (Float32Array or number[][]), got ${describe(y)}`);
  }

  // Where layer i's output sits (relative to the block): after dropout when dropout is on.
  private outputOf(i: number): number {
    const at = this.placements[i];
    return this.dropoutActive && at.dropped !== 0 ? at.dropped : at.a;
  }

  /** @internal Whether the next forward passes apply dropout (with the masks last drawn). */
  useDropout(active: boolean): void {
    this.dropoutActive = active && this.hasDropout;
  }

  // Draws new dropout masks for `rows` rows (a training forward): a new stream of the model's seed each time.
  private drawMasks(rows: number): void {
    if (!this.dropoutActive) return;
    for (let i = 0; i < this.layers.length; i++) {
      const rate = this.dropoutRates[i];
      if (rate > 0) this.kernels.dropout_mask(this.cell.block + this.placements[i].mask, rows * this.layers[i].outputSize, rate, this.seed, this.dropoutStream++);
    }
  }

  /** @internal Runs the layers on `rows` rows of the input region of the block at `base`. */
  runForward(kernels: Kernels, base: number, rows: number): void {
    let x = base + this.inputAt;
    const params = base;
    const scratch = base + this.scratchAt;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      const at = this.placements[i];
      kernels.dense_forward(base + at.z, base + at.a, x, params + at.weight, layer.hasBias ? params + at.bias : 0,
        rows, layer.inputSize, layer.outputSize, layer.activationCode, layer.negativeSlope, scratch);
      if (this.dropoutActive && at.dropped !== 0) kernels.mul(base + at.dropped, base + at.a, base + at.mask, rows * layer.outputSize);
      x = base + this.outputOf(i);
    }
  }

  /** @internal The loss of the output against the targets region; writes dL/d(output). */
  runLoss(kernels: Kernels, base: number, rows: number, loss: LossName, labels: boolean, delta: number): number {
    const output = base + this.outputOf(this.layers.length - 1);
    return runLoss(kernels, loss, base + this.outputGradAt, output, base + this.targetsAt, labels, rows, this.outputSize, delta);
  }

  /**
   * @internal Backpropagates the output-gradient region. Parameter gradients accumulate (accumulate 1)
   * or are written (0: every trainable layer's gradients, which need no zeroing first).
   */
  runBackward(kernels: Kernels, base: number, rows: number, accumulate: number): void {
    const grads = base + this.sectionFloats * 4;
    const scratch = base + this.scratchAt;
    const last = this.layers.length - 1;
    for (let i = last; i >= 0; i--) {
      const layer = this.layers[i];
      const at = this.placements[i];
      let da = i === last ? base + this.outputGradAt : base + at.delta;
      if (this.dropoutActive && at.dropped !== 0) {
        kernels.mul(base + at.delta, da, base + at.mask, rows * layer.outputSize);
        da = base + at.delta;
      }
      const dz = layer.activation === 'linear' ? da : base + at.delta;
      activationBackward(kernels, layer.activation, dz, da, base + at.z, base + at.a, rows, layer.outputSize, layer.negativeSlope);
      if (layer.trainable) {
        const x = i === 0 ? base + this.inputAt : base + this.outputOf(i - 1);
        kernels.gemm_tn(grads + at.weight, x, dz, layer.inputSize, rows, layer.outputSize, layer.inputSize, accumulate, scratch);
        if (layer.hasBias) kernels.bias_grad(grads + at.bias, dz, rows, layer.outputSize, accumulate);
      }
      if (i > 0) {
        kernels.gemm_nt(base + this.placements[i - 1].delta, dz, base + at.weight, rows, layer.outputSize, layer.inputSize, scratch);
      } else {
        this.firstDeltaAt = dz - base;
      }
    }
  }

  /**
   * Runs the network on x (rows × inputSize) and returns its output (rows × outputSize) as a view
   * into the model's memory: valid until the next forward, predict or fit.
   */
  forward(x: Matrix): Float32Array {
    this.checkAlive();
    const rows = this.stageInput(x, 'x');
    this.useDropout(this.training);
    this.drawMasks(rows);
    this.runForward(this.kernels, this.cell.block, rows);
    this.batch = rows;
    this.phase = 'forward';
    this.inputGradReady = false;
    return this.outputFor(rows);
  }

  private outputFor(rows: number): Float32Array {
    const heap = this.backend.heap;
    const start = (this.cell.block + this.outputOf(this.layers.length - 1)) >> 2;
    const view = this.outputView;
    if (view && view.buffer === heap.f32.buffer && view.byteOffset === start * 4 && view.length === rows * this.outputSize) return view;
    return (this.outputView = heap.f32.subarray(start, start + rows * this.outputSize));
  }

  /**
   * The loss of the last forward's output against y, averaged like PyTorch's 'mean' reduction; writes
   * dL/d(output) for backward(). y: class labels for softmaxCrossEntropy, else targets shaped like the output.
   */
  loss(loss: LossName, y: Targets, options?: LossOptions): number {
    this.checkAlive();
    const kind = checkLoss(loss);
    checkLossFitsOutput(kind, this.outputLayer.activation);
    const delta = huberDelta(options);
    if (this.phase === 'none') throw new SimdpropError('ORDER', 'loss() needs a forward() first');
    const labels = this.stageTargets(kind, y, this.batch);
    const value = this.runLoss(this.kernels, this.cell.block, this.batch, kind, labels, delta);
    this.phase = 'loss';
    return value;
  }

  /**
   * Backpropagates: with no argument, the gradient of the last loss(); with dOut (rows × outputSize),
   * a gradient of the output the caller computed. Parameter gradients accumulate until zeroGrad().
   */
  backward(dOut?: Matrix): void {
    this.checkAlive();
    if (this.phase === 'none') throw new SimdpropError('ORDER', 'backward() needs a forward() first');
    if (dOut !== undefined) {
      const rows = matrixRows(dOut, this.outputSize, 'dOut');
      if (rows !== this.batch) throw new SimdpropError('SHAPE', `dOut must have ${this.batch} rows (the last forward's batch), got ${rows}`);
      const at = this.cell.block + this.outputGradAt;
      const n = rows * this.outputSize;
      try {
        writeMatrix(this.backend.heap.f32, at >> 2, dOut, this.outputSize, 'dOut');
        if (this.kernels.count_nonfinite(at, n) !== 0) throw nonFiniteError(this.backend.heap.f32, at >> 2, n, this.outputSize, 'dOut');
      } catch (error) {
        // The last loss's gradient was overwritten: backward() now needs a new loss() or a valid dOut.
        this.phase = 'forward';
        throw error;
      }
    } else if (this.phase === 'forward') {
      throw new SimdpropError('ORDER', 'backward() with no argument needs loss() after forward(), or pass dOut');
    }
    if (this.gradientsUsed && !this.warnedAccumulation) {
      this.warnedAccumulation = true;
      console.warn('simdprop: backward() adds to gradients an optimizer has already stepped with: call optimizer.zeroGrad() ' +
        'before each backward() unless you mean to accumulate (PyTorch behaves the same; this is the forgotten-zero_grad bug)');
    }
    this.runBackward(this.kernels, this.cell.block, this.batch, 1);
    this.phase = 'backward';
    this.inputGradReady = false;
  }

  /** @internal Called by optimizers after a step. */
  markGradientsUsed(): void {
    this.gradientsUsed = true;
  }

  /** dL/dx for the last backward (rows × inputSize), as a view into the model's memory. */
  inputGrad(): Float32Array {
    this.checkAlive();
    if (this.phase !== 'backward') throw new SimdpropError('ORDER', 'inputGrad() needs a backward() after the last forward()');
    const base = this.cell.block;
    const first = this.layers[0];
    if (!this.inputGradReady) {
      this.kernels.gemm_nt(base + this.inputGradAt, base + this.firstDeltaAt, base + this.placements[0].weight,
        this.batch, first.outputSize, first.inputSize, base + this.scratchAt);
      this.inputGradReady = true;
    }
    const start = (base + this.inputGradAt) >> 2;
    const f32 = this.backend.heap.f32;
    const view = this.inputGradView;
    if (view && view.buffer === f32.buffer && view.byteOffset === start * 4 && view.length === this.batch * this.inputSize) return view;
    return (this.inputGradView = f32.subarray(start, start + this.batch * this.inputSize));
  }

  /** The network's output for x, as a new array (rows × outputSize); runs in chunks for large x. */
  predict(x: Matrix): Float32Array {
    this.checkAlive();
    const rows = matrixRows(x, this.inputSize, 'x');
    const result = new Float32Array(rows * this.outputSize);
    const chunk = Math.max(this.capacity, Math.min(rows, 1024));
    const training = this.training;
    this.training = false;
    try {
      for (let start = 0; start < rows; start += chunk) {
        const end = Math.min(rows, start + chunk);
        const part = x instanceof Float32Array
          ? x.subarray(start * this.inputSize, end * this.inputSize)
          : x.slice(start, end);
        result.set(this.forward(part), start * this.outputSize);
      }
    } finally {
      this.training = training;
    }
    this.phase = 'none';
    return result;
  }

  /** Freezes dense layers (all when no index is given): no gradients, no updates. Returns the model. */
  freeze(...indices: number[]): this {
    for (const i of this.layerIndices(indices, 'freeze')) this.layers[i].trainable = false;
    return this;
  }

  /** Makes dense layers trainable again (all when no index is given). Returns the model. */
  unfreeze(...indices: number[]): this {
    for (const i of this.layerIndices(indices, 'unfreeze')) this.layers[i].trainable = true;
    return this;
  }

  private layerIndices(indices: number[], what: string): number[] {
    if (indices.length === 0) return this.layers.map((_, i) => i);
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.layers.length) {
        throw new SimdpropError('OPTION', `${what}: ${describe(i)} is not a dense layer index (0 to ${this.layers.length - 1})`);
      }
    }
    return indices;
  }

  /**
   * Each dense layer's values from the last forward (and backward), as zero-copy views of rows ×
   * outputSize valid until the next forward: z (pre-activation), a (activation), output (after
   * dropout, what the next layer reads) and, after backward, dz (the loss's gradient w.r.t. z).
   */
  inspect(): { layer: number; z: Float32Array; a: Float32Array; output: Float32Array; dz?: Float32Array }[] {
    this.checkAlive();
    if (this.phase === 'none') throw new SimdpropError('ORDER', 'inspect() needs a forward() first');
    const f32 = this.backend.heap.f32;
    const base = this.cell.block;
    return this.layers.map((layer, i) => {
      const n = this.batch * layer.outputSize;
      const at = this.placements[i];
      const view = (offset: number): Float32Array => f32.subarray((base + offset) >> 2, ((base + offset) >> 2) + n);
      const last = i === this.layers.length - 1;
      // dz sits in the layer's delta region, or for a linear last layer without dropout in the output gradient.
      const dzAt = layer.activation === 'linear' && last && !(this.dropoutActive && at.dropped !== 0) ? this.outputGradAt : at.delta;
      return {
        layer: i, z: view(at.z), a: view(at.a), output: view(this.outputOf(i)),
        ...(this.phase === 'backward' ? { dz: view(dzAt) } : {}),
      };
    });
  }

  /** A table of the layers, their shapes and parameter counts, and the memory the model holds. */
  summary(): string {
    this.checkAlive();
    const rows: string[][] = [['#', 'layer', 'output', 'parameters', 'trainable']];
    this.layers.forEach((layer, i) => {
      const count = layer.weightCount + (layer.hasBias ? layer.outputSize : 0);
      const name = `dense ${layer.inputSize}→${layer.outputSize} ${layer.activation}${layer.hasBias ? '' : ' (no bias)'}`;
      rows.push([String(i), name, `[batch, ${layer.outputSize}]`, count.toLocaleString('en-US'), layer.trainable ? 'yes' : 'frozen']);
      if (this.dropoutRates[i] > 0) rows.push(['', `dropout ${this.dropoutRates[i]}`, `[batch, ${layer.outputSize}]`, '0', '']);
    });
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    const line = (row: string[]): string => row.map((cell, c) => (c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
    const trainable = this.layers.reduce((sum, layer) => sum + (layer.trainable ? layer.weightCount + (layer.hasBias ? layer.outputSize : 0) : 0), 0);
    return [
      line(rows[0]), '-'.repeat(line(rows[0]).length), ...rows.slice(1).map(line), '',
      `parameters: ${this.parameterCount.toLocaleString('en-US')} (${trainable.toLocaleString('en-US')} trainable)`,
      `memory: ${this.blockBytes.toLocaleString('en-US')} bytes on ${this.backend.description} ` +
      `(params, grads, ${this.stateSlots} optimizer state slot${this.stateSlots === 1 ? '' : 's'}, activations for ${this.capacity} rows)`,
    ].join('\n');
  }

  /** Training mode: dropout on (PyTorch's model.train()). Returns the model. */
  train(): this {
    this.training = true;
    return this;
  }

  /** Eval mode: dropout off (PyTorch's model.eval()). Returns the model. */
  eval(): this {
    this.training = false;
    return this;
  }

  /** Sets every parameter gradient to zero: one fill over the grads section. */
  zeroGrad(): void {
    this.checkAlive();
    this.gradientsUsed = false;
    this.kernels.fill(this.gradsPointer, this.sectionFloats, 0);
  }

  /** zeroGrad, forward, loss, backward and the optimizer's step in one call; returns the loss. */
  trainStep(x: Matrix, y: Targets, options: TrainStepOptions): number {
    this.checkAlive();
    const kind = checkLoss(options?.loss);
    checkLossFitsOutput(kind, this.outputLayer.activation);
    const delta = huberDelta(options);
    const optimizer = options.optimizer;
    this.checkOptimizer(optimizer);
    const rows = matrixRows(x, this.inputSize, 'x');
    const tape = this.tapeFor(rows);
    if (tape === undefined) {
      this.stageRows(x, rows, 'x', undefined);
      return this.trainStaged(rows, kind, this.stageTargets(kind, y, rows), delta, optimizer);
    }
    // The whole step in one crossing: the checks of x's and y's values are the tape's first records,
    // and when one fails nothing after it runs; the JS-side counters the step moved are put back.
    const { stepCount } = optimizer;
    const { gradientsUsed, dropoutStream } = this;
    const inputAt = this.copyRows(x, rows, 'x');
    const labels = this.copyTargetsIn(kind, y, rows);
    this.useDropout(this.training);
    this.recording = tape;
    try {
      const replay = this.replay;
      const next = stepCount + 1;
      if (this.replays(tape, rows, kind, labels, delta)) {
        // The same records as the last step's: run them again, with the state they left. The
        // update's too when it is the same optimizer, lr and step signature.
        this.gradientsUsed = false;
        this.firstDeltaAt = replay.firstDeltaAt;
        this.batch = rows;
        this.phase = 'backward';
        this.inputGradReady = false;
        if (replay.total >= 0 && replay.optimizer === optimizer && Object.is(replay.lr, optimizer.lr) && replay.signature === optimizer.stepSignature(next)) {
          tape.resume(replay.total, replay.loss);
          optimizer.replayedStep();
        } else {
          tape.resume(replay.count, replay.loss);
          this.recordUpdate(tape, optimizer, next);
        }
      } else {
        tape.begin();
        const epoch = tape.epoch;
        tape.guardFinite(inputAt, rows * this.inputSize);
        if (!labels) this.guardTargets(tape, kind, rows);
        this.gradientsStaged(rows, kind, labels, delta, 0);
        // Kept for the next step unless the tape ran part-way (its first records are gone) or dropout
        // draws new masks each step.
        if (tape.epoch === epoch && !this.dropoutActive) this.keepReplay(tape, rows, kind, labels, delta);
        else replay.epoch = -1;
        this.recordUpdate(tape, optimizer, next);
      }
    } finally {
      this.recording = undefined;
    }
    tape.run();
    const value = tape.lossValue();
    if (tape.stopped) {
      optimizer.stepCount = stepCount;
      this.gradientsUsed = gradientsUsed;
      this.dropoutStream = dropoutStream;
      this.batch = 0;
      this.phase = 'none';
      const f32 = this.backend.heap.f32;
      // The first guard is x's: the second is y's, whose check names the offending target.
      if (tape.stoppedAt !== 0) checkTargetValues(f32, this.targetsPointer >> 2, rows * this.outputSize, this.outputSize, targetsAreProbabilities(kind), 'y');
      const at = this.cell.block + this.inputAt;
      throw nonFiniteError(f32, at >> 2, rows * this.inputSize, this.inputSize, 'x');
    }
    return value;
  }

  // Whether the tape still holds this model's last step's records up to the update, recorded for a
  // step like this one: same tape epoch (nobody recorded since), block and layout, batch, loss and
  // targets, the same layers trainable, and no dropout.
  private replays(tape: Tape, rows: number, kind: LossName, labels: boolean, delta: number): boolean {
    const replay = this.replay;
    if (replay.epoch !== tape.epoch || replay.block !== this.cell.block || replay.layout !== this.layoutVersion ||
      replay.rows !== rows || replay.kind !== kind || replay.labels !== labels || !Object.is(replay.delta, delta) || this.dropoutActive) return false;
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) if (replay.trainable[i] !== layers[i].trainable) return false;
    return true;
  }

  // Records the update (the step's `step`-th) after the kept records, and keeps it with them unless
  // the tape ran part-way meanwhile.
  private recordUpdate(tape: Tape, optimizer: Optimizer, step: number): void {
    optimizer.step();
    const replay = this.replay;
    if (replay.epoch !== tape.epoch) {
      replay.total = -1;
      return;
    }
    replay.total = tape.length;
    replay.optimizer = optimizer;
    replay.lr = optimizer.lr;
    replay.signature = optimizer.stepSignature(step);
  }

  private keepReplay(tape: Tape, rows: number, kind: LossName, labels: boolean, delta: number): void {
    const replay = this.replay;
    replay.total = -1;
    replay.epoch = tape.epoch;
    replay.count = tape.length;
    replay.loss = tape.pendingLoss;
    replay.block = this.cell.block;
    replay.layout = this.layoutVersion;
    replay.rows = rows;
    replay.kind = kind;
    replay.labels = labels;
    replay.delta = delta;
    replay.firstDeltaAt = this.firstDeltaAt;
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) replay.trainable[i] = layers[i].trainable;
  }

  /** @internal One step on rows already in the input and targets regions; clipNorm > 0 clips the gradients first. */
  trainStaged(rows: number, loss: LossName, labels: boolean, delta: number, optimizer: Optimizer, clipNorm = 0): number {
    const tape = this.tapeFor(rows);
    if (tape !== undefined) {
      tape.begin();
      return this.recordStep(tape, rows, loss, labels, delta, optimizer, clipNorm);
    }
    const value = this.gradientsStaged(rows, loss, labels, delta, clipNorm);
    optimizer.step();
    return value;
  }

  /**
   * @internal fit's guarded step. Non-finite gradients or loss: no update (refused 'gradients'). An
   * update that makes a parameter or optimizer state non-finite is undone from the copy kept in
   * `backup` ((1 + state slots) sections) (refused 'update'). Either way weights, optimizer state and
   * step count end as before the step. Returns the loss; `refused` says what was refused, if anything.
   */
  guardedStaged(rows: number, loss: LossName, labels: boolean, delta: number, optimizer: Optimizer, clipNorm: number, backup: number): number {
    const section = this.sectionFloats;
    const stateFloats = this.stateSlots * section;
    const params = this.paramsPointer;
    const grads = this.gradsPointer;
    const state = stateFloats > 0 ? this.statePointer(0) : 0;
    const stepCount = optimizer.stepCount;
    const tape = this.tapeFor(rows);
    let value: number;
    let gradientsBad: boolean;
    let updated: boolean;
    let updateBad: boolean;
    if (tape !== undefined) {
      // One crossing: the checks are guards on the tape, the backup copy and the update are recorded
      // after the gradients' guard, so they run only for finite gradients.
      tape.begin();
      let gradientGuard = -1;
      this.recording = tape;
      try {
        this.gradientsStaged(rows, loss, labels, delta, clipNorm);
        gradientGuard = tape.guardFinite(grads, section);
        tape.copy(backup, params, section);
        if (stateFloats > 0) tape.copy(backup + section * 4, state, stateFloats);
        optimizer.step();
        tape.guardFinite(params, section);
        if (stateFloats > 0) tape.guardFinite(state, stateFloats);
      } finally {
        this.recording = undefined;
      }
      tape.run();
      value = tape.lossValue();
      gradientsBad = tape.stoppedAt === gradientGuard;
      updated = !gradientsBad;
      updateBad = tape.stopped && !gradientsBad;
    } else {
      const kernels = this.kernels;
      value = this.gradientsStaged(rows, loss, labels, delta, clipNorm);
      gradientsBad = kernels.count_nonfinite(grads, section) > 0;
      updated = !gradientsBad && Number.isFinite(value);
      updateBad = false;
      if (updated) {
        kernels.copy(backup, params, section);
        if (stateFloats > 0) kernels.copy(backup + section * 4, state, stateFloats);
        optimizer.step();
        updateBad = kernels.count_nonfinite(params, section) > 0 || (stateFloats > 0 && kernels.count_nonfinite(state, stateFloats) > 0);
      }
    }
    this.refused = gradientsBad || !Number.isFinite(value) ? 'gradients' : updateBad ? 'update' : undefined;
    if (this.refused !== undefined) {
      if (updated) {
        const kernels = this.backend.kernels;
        kernels.copy(params, backup, section);
        if (stateFloats > 0) kernels.copy(state, backup + section * 4, stateFloats);
      }
      optimizer.stepCount = stepCount;
      if (this.refused === 'gradients') this.gradientsUsed = false;
    }
    return value;
  }

  /** @internal What the last guardedStaged() refused: undefined (nothing), 'gradients' or 'update'. */
  refused: 'gradients' | 'update' | undefined = undefined;

  // Records the step's kernel calls into the tape, then runs them: one crossing (two with clipNorm,
  // whose norm is needed before the scaling).
  private recordStep(tape: Tape, rows: number, loss: LossName, labels: boolean, delta: number, optimizer: Optimizer, clipNorm: number): number {
    this.recording = tape;
    try {
      this.gradientsStaged(rows, loss, labels, delta, clipNorm);
      optimizer.step();
    } finally {
      this.recording = undefined;
    }
    tape.run();
    return tape.lossValue();
  }

  /** @internal zeroGrad, forward, loss and backward (and clipping) on staged rows: a step but the update. */
  gradientsStaged(rows: number, loss: LossName, labels: boolean, delta: number, clipNorm = 0): number {
    const kernels = this.kernels;
    const base = this.cell.block;
    // zeroGrad without a pass over the gradients: the backward writes every trainable layer's, and
    // only a frozen layer's are zeroed. The alignment gaps between them stay 0 from the block's start.
    const grads = base + this.sectionFloats * 4;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      if (layer.trainable) continue;
      const at = this.placements[i];
      kernels.fill(grads + at.weight, layer.weightCount, 0);
      if (layer.hasBias) kernels.fill(grads + at.bias, layer.outputSize, 0);
    }
    this.gradientsUsed = false;
    this.useDropout(this.training);
    this.drawMasks(rows);
    this.runForward(kernels, base, rows);
    const value = this.runLoss(kernels, base, rows, loss, labels, delta);
    this.runBackward(kernels, base, rows, 0);
    if (clipNorm > 0) clipGradNorm(this, clipNorm);
    this.batch = rows;
    this.phase = 'backward';
    this.inputGradReady = false;
    return value;
  }

  /**
   * @internal Where non-finite values first appear after a forward and backward: the first layer whose
   * output, then the first parameter whose gradient, holds NaN or ±Infinity; undefined if none does.
   */
  firstNonFinite(): string | undefined {
    const kernels = this.kernels;
    const base = this.cell.block;
    for (let i = 0; i < this.layers.length; i++) {
      if (kernels.count_nonfinite(base + this.outputOf(i), this.batch * this.layers[i].outputSize) > 0) return `the output of layer ${i}`;
    }
    for (const parameter of this.namedParameters()) {
      if (kernels.count_nonfinite(parameter.grad.byteOffset, parameter.size) > 0) return `the gradient of ${parameter.name}`;
    }
    return undefined;
  }

  /** @internal Throws unless the optimizer was made for this model. */
  checkOptimizer(optimizer: unknown): asserts optimizer is Optimizer {
    if (typeof optimizer !== 'object' || optimizer === null || (optimizer as Optimizer).model !== this) {
      throw new SimdpropError('OPTION', `optimizer must be an optimizer made for this model, got ${describe(optimizer)}`);
    }
  }

  /** @internal Grows the activation regions to hold `rows` rows. */
  reserveRows(rows: number): void {
    this.ensureCapacity(rows);
  }

  /** @internal Rows the activation regions hold now. */
  get rowCapacity(): number {
    return this.capacity;
  }

  /** @internal Byte offset of the network's output (the last layer's activations). */
  get outputPointer(): number {
    return this.cell.block + this.outputOf(this.layers.length - 1);
  }

  /** @internal Marks the activations as not from a forward() of the caller's (after evaluation runs). */
  forgetActivations(): void {
    this.batch = 0;
    this.phase = 'none';
  }

  /** @internal Byte offsets of the input and targets regions. */
  get inputPointer(): number {
    return this.cell.block + this.inputAt;
  }

  get targetsPointer(): number {
    return this.cell.block + this.targetsAt;
  }

  /** @internal Bytes of the block, and where the loss reads the output from (relative to the block). */
  get blockBytes(): number {
    return this.backend.heap.blockBytes(this.cell.block);
  }

  /** Trains on x, y for some epochs of mini-batches; see FitOptions. */
  fit(x: Matrix, y: Targets, options: FitOptions): Promise<History> {
    this.checkAlive();
    return fit(this, x, y, options);
  }

  /** The mean loss and the metrics on x, y (in batches, no gradients): { loss, accuracy, … }. */
  evaluate(x: Matrix, y: Targets, options: EvaluateOptions): EpochLogs {
    this.checkAlive();
    return evaluate(this, x, y, options);
  }

  /** Every parameter tensor with its gradient (see NamedParameter), in layer order: weight, then bias. */
  namedParameters(): NamedParameter[] {
    this.checkAlive();
    const result: NamedParameter[] = [];
    this.layers.forEach((layer, i) => {
      const at = this.placements[i];
      result.push(new NamedParameter(this, `layers.${i}.weight`, [layer.inputSize, layer.outputSize], at.weight, layer.weightCount));
      if (layer.hasBias) result.push(new NamedParameter(this, `layers.${i}.bias`, [layer.outputSize], at.bias, layer.outputSize));
    });
    return result;
  }

  /** The L2 norm of each parameter's gradient, and of all of them together. */
  gradNorms(): { total: number; byParameter: { name: string; norm: number }[] } {
    let sum = 0;
    const byParameter = this.namedParameters().map(({ name, grad }) => {
      const squares = this.kernels.sum_squares(grad.byteOffset, grad.length);
      sum += squares;
      return { name, norm: Math.sqrt(squares) };
    });
    return { total: Math.sqrt(sum), byParameter };
  }

  /**
   * The model as safetensors bytes: tensors named and laid out like the equivalent PyTorch
   * nn.Sequential's state_dict ("0.weight" [out, in], "0.bias"), the architecture and simdprop's
   * version in the header's __metadata__; with { optimizer }, its state too (see Optimizer.loadState).
   */
  save(options?: SaveOptions): Uint8Array {
    this.checkAlive();
    return saveModel(this, options);
  }

  /**
   * A model from safetensors bytes written by save() — bit-identical parameters — or by PyTorch
   * (safetensors.torch.save_file(model.state_dict(), …)), naming the activations in `options`.
   */
  static load(bytes: Uint8Array, options?: LoadOptions): Sequential {
    return loadModel(bytes, options);
  }

  /** Returns the model's memory to its backend; any later call throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    blocks?.unregister(this);
    this.backend.heap.free(this.cell.block);
  }
}

// A model: a graph of layers from inputs to outputs, over one block of its backend's memory. The model
// is the API and the order of things; its parts do the work: the plan (plan.ts) orders the graph and
// lays out memory, ModelMemory (memory.ts) owns the block, Staging (staging.ts) checks and copies
// inputs and targets, the Objective (objective.ts) runs the losses, the Executor (executor.ts) runs
// forward and backward, Replay (replay.ts) keeps a step's tape records, serialize.ts writes and
// reads graphs and state dicts. A training step records its kernel calls on the backend's tape and
// crosses into wasm once; a step of the same shape replays them.
import type { Backend, BackendName } from '../backend/backend.js';
import type { Kernels } from '../backend/kernels.js';
import type { Tape } from '../backend/wasm/tape.js';
import { matrixRows, nonFiniteError, writeMatrix, type Matrix, type Targets } from '../data.js';
import { SimdpropError, describe } from '../errors.js';
import { evaluate, fit, type EvaluateOptions, type FitOptions, type History } from '../fit.js';
import { getBackend } from '../init.js';
import { writeGraphFile, type NamedTensor } from '../io/graph-file.js';
import { parseSafetensors } from '../io/safetensors.js';
import type { OptimizerState } from '../io/sequential-file.js';
import type { LayerFactories } from '../layers/registry.js';
import type { LossName } from '../losses.js';
import { clipGradNorm } from '../optim/clip.js';
import { Rng } from '../rng.js';
import { MIN_SPLIT_MACS, MIN_SPLIT_PARAMS } from '../threads/threaded.js';
import type { EpochLogs } from '../train/callbacks.js';
import { Executor } from './executor.js';
import { ModelMemory, type Pointers } from './memory.js';
import { isRecord, Objective, type LossCallOptions, type LossSpec } from './objective.js';
import type { Op, RandomStream } from './op.js';
import { Plan, type PlannedLayer } from './plan.js';
import { FIT_STEP, Replay, TRAIN_STEP, type ReplayedOptimizer } from './replay.js';
import { describeGraph, readState, rebuildGraph, stateDict, writeState } from './serialize.js';
import { sliceRows, Staging, type InputData, type StagedData } from './staging.js';
import { tensorList, type TensorForm, type Tensors } from './symbolic.js';

export type { InputData, LossCallOptions, LossSpec, Pointers, StagedData, Tensors };

export interface ModelOptions {
  /** Seed of the weight initialization and of dropout: the same seed gives the same weights (default 0). */
  seed?: number;
  /** Which backend the model runs on (default: the one init() chose). */
  backend?: BackendName;
}

/** What forward() and the training calls take: one input's batch, or one per input (in order, or by name). */
export type Inputs = InputData | readonly InputData[] | Readonly<Record<string, InputData>>;
/** Targets for one output, or one per output (in order, or by name). */
export type TargetsFor = Targets | readonly Targets[] | Readonly<Record<string, Targets>>;

/** What an optimizer is to a model: something that steps, whose step signature keys the tape's replay. */
export interface StepOptimizer extends ReplayedOptimizer {
  readonly model: unknown;
  stepCount: number;
  step(): void;
  replayedStep(): void;
}

export interface TrainStepOptions extends LossCallOptions {
  loss: LossSpec;
  optimizer: StepOptimizer;
  /** Clip the gradients' total L2 norm to this before the update (clipGradNorm), inside the step's one crossing. */
  clipNorm?: number;
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
    private readonly model: Model,
    /** e.g. "layers.0.weight" ([inputSize, outputSize]) or "blocks.0.fc.bias" ([outputSize]). */
    readonly name: string,
    readonly shape: readonly number[],
    /** Byte offset of the tensor within the params (and grads) section. */
    private readonly offset: number,
    readonly size: number,
    /** What optimizer groups select it by ('weight', 'bias', 'decay', 'noDecay'). */
    readonly tags: readonly string[],
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

export type Phase = 'none' | 'forward' | 'loss' | 'backward';

export class Model {
  readonly backend: Backend;
  /** @internal The graph, its parameters and how memory is laid out. */
  readonly plan: Plan;
  /** Training mode (the default) applies dropout; eval mode does not. predict() and evaluate() always evaluate. */
  training = true;
  /** Number of trainable scalars (weights and biases). */
  readonly parameterCount: number;
  /** @internal Floats in each of the params, grads and state sections (tensors padded to 64 bytes). */
  readonly sectionFloats: number;
  /** Names of the inputs and outputs, in order. */
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** @internal The seed and the dropout stream, which each mask drawn bumps. */
  readonly random: RandomStream;
  /** Whether inputs and outputs (and so forward's results) are one tensor, an array or a record. */
  private readonly inputForm: TensorForm;
  private readonly outputForm: TensorForm;
  private readonly memory: ModelMemory;
  private readonly staging: Staging;
  private readonly objective: Objective;
  private readonly executor: Executor;
  private readonly replay: Replay;
  private batch = 0;
  private phase: Phase = 'none';
  private inputGradReady = false;
  private disposed = false;
  private dropoutActive = false;
  /** Whether the next forward passes run in training mode (useTraining). */
  private trainingActive = false;
  /** Whether any node draws random masks in training (dropout). */
  private readonly drawsMasks: boolean;
  /** Set when an optimizer steps, cleared by zeroGrad: a backward() then adds to gradients already used. */
  private gradientsUsed = false;
  private warnedAccumulation = false;
  /** The backend's tape while a step records its kernel calls into it. */
  private recording: Tape | undefined = undefined;
  /** Views handed out, re-made when the memory moves; forward()'s results for several outputs, one kept array or record. */
  private readonly outputViews: (Float32Array | undefined)[];
  private readonly inputGradViews: (Float32Array | undefined)[];
  private readonly outputArray: Float32Array[] = [];
  private readonly outputRecord: Record<string, Float32Array> = {};
  /** Which outputs dOut gave a gradient (a kept array). */
  private readonly givenGradients: boolean[];

  /** `layerNames`: @internal names for layers that have none of their own (see Plan). */
  constructor(graph: { inputs: Tensors; outputs: Tensors }, options: ModelOptions = {}, layerNames?: ReadonlyMap<Op, string>) {
    if (!isRecord(graph) || graph.inputs === undefined || graph.outputs === undefined) {
      throw new SimdpropError('OPTION', `Model needs { inputs, outputs }, got ${describe(graph)}`);
    }
    const inputs = tensorList(graph.inputs, 'inputs');
    const outputs = tensorList(graph.outputs, 'outputs');
    inputs.names.forEach((name, i) => {
      if (name !== undefined && inputs.tensors[i].name !== undefined && inputs.tensors[i].name !== name) {
        throw new SimdpropError('GRAPH', `inputs.${name} is the input named "${inputs.tensors[i].name}": name it one way`);
      }
    });
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new SimdpropError('OPTION', `seed must be an integer, got ${describe(seed)}`);
    this.backend = getBackend(options.backend);
    const plan = new Plan(inputs.tensors, outputs.tensors, outputs.names, layerNames);
    this.plan = plan;
    if (inputs.form === 'record') plan.inputNames.splice(0, plan.inputNames.length, ...inputs.names.map((name) => name!));
    this.inputNames = plan.inputNames;
    this.outputNames = plan.outputNames;
    this.inputForm = inputs.form;
    this.outputForm = outputs.form;
    this.sectionFloats = plan.sectionFloats;
    this.parameterCount = plan.parameterCount;
    this.random = { seed, stream: 0, reuse: false };
    this.drawsMasks = plan.layers.some((layer) => layer.kind === 'dropout');
    this.outputViews = plan.outputs.map(() => undefined);
    this.inputGradViews = plan.inputs.map(() => undefined);
    this.givenGradients = plan.outputs.map(() => false);
    this.objective = new Objective(plan, this.outputNames);
    this.staging = new Staging(plan, this.backend, this.objective.slots, this.inputNames, this.outputNames);
    this.replay = new Replay(plan.outputs.length);
    this.memory = new ModelMemory(this, this.backend, plan, this.random, () => this.moved());
    this.executor = new Executor(plan, this.memory);
    this.memory.initialize(new Rng(seed));
  }

  // The memory moved: the views, the last forward's activations and the backward's pointers are gone.
  private moved(): void {
    this.executor?.invalidate();
    this.batch = 0;
    this.phase = 'none';
    this.outputViews?.fill(undefined);
    this.inputGradViews?.fill(undefined);
  }

  /** Every layer of the model, in the order of first use. */
  get layers(): readonly PlannedLayer[] {
    return this.plan.layers;
  }

  /** @internal The kernels the model's work goes to: the backend's, or its tape while a step records. */
  get kernels(): Kernels {
    return this.recording ?? this.backend.kernels;
  }

  /** @internal The pointers of the current layout in the model's block. */
  get at(): Pointers {
    return this.memory.at;
  }

  /**
   * @internal The current layout's pointers from `base`: a copy of the block elsewhere, whose floats
   * `memory` gives (the gradient check runs the plan over a float64 copy).
   */
  pointers(base: number, memory: () => Float32Array): Pointers {
    return this.memory.pointers(base, memory);
  }

  /**
   * The tape a step on `rows` samples may record into: the wasm backend's, unless one of the step's
   * products or its update is large enough for the threads to split (they run from JavaScript), or a
   * custom layer runs JavaScript between the kernels.
   */
  private tapeFor(rows: number): Tape | undefined {
    const { tape, threads } = this.backend;
    if (tape === undefined || this.plan.callsJavaScript) return undefined;
    if (threads > 1 && (rows * this.plan.widestProduct >= MIN_SPLIT_MACS || this.sectionFloats >= MIN_SPLIT_PARAMS)) return undefined;
    return tape;
  }

  // ---- What optimizers, clipping and fit see of the memory (ParameterStore, GradientBlock) ----

  /** @internal Byte offset of the params section. */
  get paramsPointer(): number {
    return this.memory.params;
  }

  /** @internal Byte offset of the grads section. */
  get gradsPointer(): number {
    return this.memory.grads;
  }

  /** @internal How many optimizer state slots the block holds. */
  get stateSlotCount(): number {
    return this.memory.stateSlots;
  }

  /** @internal Byte offset of optimizer state slot `slot`. */
  statePointer(slot: number): number {
    return this.memory.state(slot);
  }

  /** @internal Byte offset of the buffers section. */
  get buffersPointer(): number {
    return this.memory.buffers;
  }

  /** @internal Floats (4-byte words) of the buffers section. */
  get bufferFloats(): number {
    return this.plan.bufferFloats;
  }

  /** @internal How many parameter tensors the model has. */
  get tensorCount(): number {
    return this.plan.parameters.length;
  }

  /**
   * @internal The layer the t-th tensor of the params section belongs to (tensors numbered in the
   * section's order, Plan.memoryOrder: what an optimizer walks), and what groups select it by.
   */
  tensorLayer(t: number): PlannedLayer {
    return this.plan.layers[this.plan.parameters[this.plan.memoryOrder[t]].layer];
  }

  tensorTags(t: number): readonly string[] {
    return this.plan.parameters[this.plan.memoryOrder[t]].tags;
  }

  /** @internal Float offset of the t-th tensor of the section. */
  tensorStart(t: number): number {
    return this.plan.parameters[this.plan.memoryOrder[t]].start;
  }

  /** @internal Where the t-th tensor's span ends: the next tensor's start (padding included), or the section's end. */
  tensorEnd(t: number): number {
    return this.plan.parameterEnd(this.plan.memoryOrder[t]);
  }

  /** @internal Tensors of at least this many floats the threads split: an optimizer updates them apart. */
  get splitTensorsFrom(): number {
    return this.backend.threads > 1 ? MIN_SPLIT_PARAMS : Infinity;
  }

  /** @internal Adds `count` zeroed state slots for an optimizer; returns the first slot's index. */
  reserveStateSlots(count: number): number {
    this.checkAlive();
    return this.memory.addStateSlots(count);
  }

  /** @internal The layer of this name (given or generated), or undefined. */
  layerNamed(name: string): PlannedLayer | undefined {
    const index = this.plan.layerNames.indexOf(name);
    return index < 0 ? undefined : this.plan.layers[index];
  }

  /** @internal How errors about layer indices name the layers. */
  get layersLabel(): string {
    return 'layers';
  }

  protected checkAlive(): void {
    if (this.disposed) throw new SimdpropError('DISPOSED', 'this model was disposed: create or load a new one');
  }

  // ---- Running it ----

  /** @internal Whether the next forward passes run in training mode: dropout draws masks, batch norm uses the batch's statistics. */
  useTraining(active: boolean): void {
    this.trainingActive = active;
    this.dropoutActive = active && this.drawsMasks;
  }

  /**
   * @internal Refuses, before anything runs, a training batch smaller than a layer needs (batch norm
   * on one value per channel), as PyTorch's error does.
   */
  checkTrainingRows(rows: number): void {
    const least = this.plan.minTrainingRows;
    if (rows < least) {
      throw new SimdpropError('SHAPE', `${this.plan.minTrainingRowsLayer} expected more than 1 value per channel when training, ` +
        `got a batch of ${rows} sample${rows === 1 ? '' : 's'} (it needs ${least} or more; model.eval() uses the running statistics)`);
    }
  }

  /** @internal Runs the nodes on `rows` samples of the input regions at `at` (the model's, or a copy's). */
  runForward(kernels: Kernels, at: Pointers, rows: number): void {
    this.executor.forward(kernels, at, rows, this.trainingActive);
  }

  /** @internal The losses' weighted sum against the targets regions at `at`; writes each output's gradient. */
  runLosses(kernels: Kernels, at: Pointers, rows: number): number {
    return this.objective.run(kernels, at, rows);
  }

  /** @internal Reads `loss` (and the weights) into the step's losses; checks each against its output. */
  useLosses(loss: unknown, options: LossCallOptions | undefined): void {
    this.objective.use(loss, options);
  }

  /** @internal Runs the model on `rows` samples in the input regions (no gradients); returns the losses' weighted sum. */
  evaluateRows(rows: number): number {
    const kernels = this.backend.kernels;
    this.runForward(kernels, this.at, rows);
    return this.runLosses(kernels, this.at, rows);
  }

  /** Makes room for `rows` samples and copies checked inputs in (their indices are checked first). */
  private copyInputs(data: InputData[], rows: number, what: string): void {
    this.staging.checkIndexInputs(data, what);
    this.memory.reserve(rows);
    this.batch = 0;
    this.phase = 'none';
    this.staging.writeInputs(data, what, this.at.inputs);
  }

  /**
   * Runs the model on x and returns its output (rows × the output's size) as a view into the model's
   * memory, valid until the next forward, predict or fit; several outputs come as an array or a
   * record, as the model was made.
   */
  forward(x: Inputs): Float32Array | Float32Array[] | Record<string, Float32Array> {
    this.checkAlive();
    const staging = this.staging;
    const data = staging.inputsOf(x, 'x');
    const rows = staging.checkInputs(data, 'x');
    if (this.training) this.checkTrainingRows(rows);
    this.copyInputs(data, rows, 'x');
    staging.checkFiniteInputs(rows, 'x', this.at.inputs, undefined);
    this.useTraining(this.training);
    this.runForward(this.kernels, this.at, rows);
    this.batch = rows;
    this.phase = 'forward';
    this.inputGradReady = false;
    return this.outputsFor(rows);
  }

  private outputsFor(rows: number): Float32Array | Float32Array[] | Record<string, Float32Array> {
    if (this.outputForm === 'single') return this.outputView(0, rows);
    for (let o = 0; o < this.plan.outputs.length; o++) {
      const view = this.outputView(o, rows);
      if (this.outputForm === 'array') this.outputArray[o] = view;
      else this.outputRecord[this.outputNames[o]] = view;
    }
    return this.outputForm === 'array' ? this.outputArray : this.outputRecord;
  }

  private outputView(o: number, rows: number): Float32Array {
    const heap = this.backend.heap;
    const start = this.at.outputs[o] >> 2;
    const length = rows * this.plan.tensors[this.plan.outputs[o]].size;
    const view = this.outputViews[o];
    if (view && view.buffer === heap.f32.buffer && view.byteOffset === start * 4 && view.length === length) return view;
    return (this.outputViews[o] = heap.f32.subarray(start, start + length));
  }

  /**
   * The loss of the last forward's outputs against y, averaged like PyTorch's 'mean' reduction (over
   * rows, or over positions for per-position losses); several outputs' losses are summed with
   * `lossWeights`. Writes dL/d(output) for backward().
   */
  loss(loss: LossSpec, y: TargetsFor, options?: LossCallOptions): number {
    this.checkAlive();
    this.useLosses(loss, options);
    if (this.phase === 'none') throw new SimdpropError('ORDER', 'loss() needs a forward() first');
    this.staging.copyTargets(y, this.batch, 'y', this.at.targets);
    this.staging.checkTargetValues(this.batch, 'y', this.at.targets);
    const value = this.runLosses(this.kernels, this.at, this.batch);
    this.phase = 'loss';
    return value;
  }

  /**
   * Backpropagates: with no argument, the gradient of the last loss(); with dOut (rows × the output's
   * size, or one per output as the outputs are given), gradients of the outputs the caller computed.
   * Parameter gradients accumulate until zeroGrad().
   */
  backward(dOut?: Matrix | readonly (Matrix | undefined)[] | Readonly<Record<string, Matrix>>): void {
    this.checkAlive();
    if (this.phase === 'none') throw new SimdpropError('ORDER', 'backward() needs a forward() first');
    let sources: readonly boolean[];
    if (dOut !== undefined) {
      sources = this.writeOutputGradients(dOut);
    } else if (this.phase === 'forward') {
      throw new SimdpropError('ORDER', 'backward() with no argument needs loss() after forward(), or pass dOut');
    } else {
      sources = this.objective.withLoss();
    }
    if (this.gradientsUsed && !this.warnedAccumulation) {
      this.warnedAccumulation = true;
      console.warn('simdprop: backward() adds to gradients an optimizer has already stepped with: call optimizer.zeroGrad() ' +
        'before each backward() unless you mean to accumulate (PyTorch behaves the same; this is the forgotten-zero_grad bug)');
    }
    this.executor.backward(this.kernels, this.batch, false, sources);
    this.phase = 'backward';
    this.inputGradReady = false;
  }

  // Checks and writes the caller's output gradients; returns which outputs got one.
  private writeOutputGradients(dOut: unknown): boolean[] {
    const { plan, staging } = this;
    const count = plan.outputs.length;
    const given = staging.perOutput(dOut, 'dOut');
    for (let o = 0; o < count; o++) {
      if (given[o] === undefined) continue;
      const rows = matrixRows(given[o], plan.tensors[plan.outputs[o]].size, staging.targetWhat(o, 'dOut'));
      if (rows !== this.batch) {
        throw new SimdpropError('SHAPE', `${staging.targetWhat(o, 'dOut')} must have ${this.batch} rows (the last forward's batch), got ${rows}`);
      }
    }
    const sources = this.givenGradients;
    const f32 = this.backend.heap.f32;
    let any = false;
    try {
      for (let o = 0; o < count; o++) {
        sources[o] = given[o] !== undefined;
        if (!sources[o]) continue;
        any = true;
        const size = plan.tensors[plan.outputs[o]].size;
        const at = this.at.outputGrads[o];
        const n = this.batch * size;
        writeMatrix(f32, at >> 2, given[o] as Matrix, size, staging.targetWhat(o, 'dOut'));
        if (this.kernels.count_nonfinite(at, n) !== 0) throw nonFiniteError(f32, at >> 2, n, size, staging.targetWhat(o, 'dOut'));
      }
    } catch (error) {
      // The last loss's gradient was overwritten: backward() now needs a new loss() or a valid dOut.
      this.phase = 'forward';
      throw error;
    }
    if (!any) throw new SimdpropError('OPTION', 'dOut gives no output a gradient');
    return sources;
  }

  /** @internal Called by optimizers after a step. */
  markGradientsUsed(): void {
    this.gradientsUsed = true;
  }

  /**
   * dL/dx for the last backward (rows × the input's size), as a view into the model's memory: the first
   * input's, or the one named. Made on demand from what the backward left.
   */
  inputGrad(name?: string): Float32Array {
    this.checkAlive();
    if (this.phase !== 'backward') throw new SimdpropError('ORDER', 'inputGrad() needs a backward() after the last forward()');
    const plan = this.plan;
    const i = name === undefined ? 0 : this.inputNames.indexOf(name);
    if (i < 0) throw new SimdpropError('OPTION', `the model has no input named ${describe(name)}: its inputs are ${this.inputNames.join(', ')}`);
    const tensor = plan.tensors[plan.inputs[i]];
    if (tensor.type.dtype !== 'float32') throw new SimdpropError('TYPE', `input "${this.inputNames[i]}" holds int32 indices, which have no gradient`);
    if (!this.inputGradReady) {
      this.executor.inputGradients(this.backend.kernels, this.batch);
      this.inputGradReady = true;
    }
    const start = this.at.inputGrads[i] >> 2;
    const length = this.batch * tensor.size;
    const f32 = this.backend.heap.f32;
    const view = this.inputGradViews[i];
    if (view && view.buffer === f32.buffer && view.byteOffset === start * 4 && view.length === length) return view;
    return (this.inputGradViews[i] = f32.subarray(start, start + length));
  }

  /** The model's output for x, as a new array (rows × the output's size; one per output for several); runs in chunks. */
  predict(x: Inputs): Float32Array | Float32Array[] | Record<string, Float32Array> {
    this.checkAlive();
    // A copy: each chunk's forward() sorts its inputs into the kept array.
    const data = [...this.staging.inputsOf(x, 'x')];
    const rows = this.staging.checkInputs(data, 'x');
    const plan = this.plan;
    const results = plan.outputs.map((t) => new Float32Array(rows * plan.tensors[t].size));
    const chunk = Math.max(this.memory.capacity, Math.min(rows, 1024));
    const training = this.training;
    this.training = false;
    try {
      for (let start = 0; start < rows; start += chunk) {
        const end = Math.min(rows, start + chunk);
        const parts = data.map((value, i) => sliceRows(value, start, end, plan.tensors[plan.inputs[i]].size));
        const out = this.forward(this.inputForm === 'record' || plan.inputs.length > 1 ? parts : parts[0]);
        const views = out instanceof Float32Array ? [out] : Array.isArray(out) ? out : this.outputNames.map((name) => out[name]);
        views.forEach((view, o) => results[o].set(view, start * plan.tensors[plan.outputs[o]].size));
      }
    } finally {
      this.training = training;
    }
    this.phase = 'none';
    if (this.outputForm === 'single') return results[0];
    if (this.outputForm === 'array') return results;
    return Object.fromEntries(this.outputNames.map((name, o) => [name, results[o]]));
  }

  /** The layers to freeze or unfreeze: by index into `layers` or by name; all when none is given. */
  protected layersNamed(selectors: (number | string)[], what: string): PlannedLayer[] {
    const layers = this.layers;
    if (selectors.length === 0) return [...layers];
    return selectors.map((selector) => {
      if (typeof selector === 'string') {
        const layer = this.layerNamed(selector);
        if (layer === undefined) throw new SimdpropError('OPTION', `${what}: the model has no layer named ${describe(selector)}`);
        return layer;
      }
      if (!Number.isInteger(selector) || selector < 0 || selector >= layers.length) {
        throw new SimdpropError('OPTION', `${what}: ${describe(selector)} is not a layer index (0 to ${layers.length - 1}) or name`);
      }
      return layers[selector];
    });
  }

  /** Freezes layers (by index into `layers` or by name; all when none is given): no gradients, no updates. */
  freeze(...layers: (number | string)[]): this {
    for (const layer of this.layersNamed(layers, 'freeze')) layer.trainable = false;
    return this;
  }

  /** Makes layers trainable again (all when none is given). */
  unfreeze(...layers: (number | string)[]): this {
    for (const layer of this.layersNamed(layers, 'unfreeze')) layer.trainable = true;
    return this;
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

  /** @internal Throws unless the optimizer was made for this model. */
  checkOptimizer(optimizer: unknown): asserts optimizer is StepOptimizer {
    if (typeof optimizer !== 'object' || optimizer === null || (optimizer as StepOptimizer).model !== this) {
      throw new SimdpropError('OPTION', `optimizer must be an optimizer made for this model, got ${describe(optimizer)}`);
    }
  }

  // ---- Training steps ----

  /** zeroGrad, forward, loss, backward and the optimizer's step in one call; returns the loss. */
  trainStep(x: Inputs, y: TargetsFor, options: TrainStepOptions): number {
    this.checkAlive();
    const replay = this.replay;
    const memory = this.memory;
    const shared = this.backend.tape;
    // A training loop's next call like the last one (Replay.repeats): only the batch's values are new,
    // and the tape checks those.
    if (shared !== undefined && replay.repeats(shared, options, x, y, this.training, this.objective.revision, memory.block, memory.version, this.plan.layers)) {
      const optimizer = options.optimizer;
      const { stepCount } = optimizer;
      const gradientsUsed = this.gradientsUsed;
      const stream = this.random.stream;
      const rows = replay.batchRows;
      this.staging.copyPlain(x as Float32Array, y as Float32Array, this.at.inputs[0], this.at.targets[0]);
      this.useTraining(this.training);
      this.recording = shared;
      try {
        this.rerunKept(shared, optimizer, rows, stepCount + 1, 0);
      } finally {
        this.recording = undefined;
      }
      return this.runTaped(shared, optimizer, rows, stepCount, gradientsUsed, stream);
    }
    this.useLosses(options?.loss, options);
    const optimizer = options.optimizer;
    this.checkOptimizer(optimizer);
    const clipNorm = options.clipNorm ?? 0;
    if (options.clipNorm !== undefined && !(typeof clipNorm === 'number' && clipNorm > 0 && Number.isFinite(clipNorm))) {
      throw new SimdpropError('OPTION', `clipNorm must be a positive finite number, got ${describe(options.clipNorm)}`);
    }
    const staging = this.staging;
    const data = staging.inputsOf(x, 'x');
    const rows = staging.checkInputs(data, 'x');
    if (this.training) this.checkTrainingRows(rows);
    const tape = this.tapeFor(rows);
    if (tape === undefined) {
      this.copyInputs(data, rows, 'x');
      staging.checkFiniteInputs(rows, 'x', this.at.inputs, undefined);
      staging.copyTargets(y, rows, 'y', this.at.targets);
      staging.checkTargetValues(rows, 'y', this.at.targets);
      return this.trainStaged(rows, optimizer, clipNorm);
    }
    // The whole step in one crossing: the checks of x's and y's values are the tape's first records,
    // and when one fails nothing after it runs; the JS-side counters the step moved are put back.
    const { stepCount } = optimizer;
    const gradientsUsed = this.gradientsUsed;
    const stream = this.random.stream;
    this.copyInputs(data, rows, 'x');
    staging.copyTargets(y, rows, 'y', this.at.targets);
    this.useTraining(this.training);
    this.recording = tape;
    try {
      const next = stepCount + 1;
      if (!this.dropoutActive && replay.matches(tape, TRAIN_STEP, memory.block, memory.version, rows, this.trainingActive, clipNorm, this.objective.slots, this.plan.layers)) {
        this.rerunKept(tape, optimizer, rows, next, 0);
      } else {
        tape.begin();
        const epoch = tape.epoch;
        staging.checkFiniteInputs(rows, 'x', this.at.inputs, tape);
        staging.guardTargets(tape, rows, this.at.targets);
        this.gradientsStaged(rows, clipNorm);
        // Kept for the next step unless the tape ran part-way (its first records are gone) or dropout
        // draws new masks each step.
        if (tape.epoch === epoch && !this.dropoutActive) replay.keep(tape, TRAIN_STEP, memory.block, memory.version, rows, this.trainingActive, clipNorm, this.objective.slots, this.plan.layers);
        else replay.forget();
        this.recordUpdate(tape, optimizer, next, 0);
      }
    } finally {
      this.recording = undefined;
    }
    const value = this.runTaped(tape, optimizer, rows, stepCount, gradientsUsed, stream);
    replay.rememberCall(tape, options, x, y, staging.plain && this.objective.slots[0].targets, this.training, this.objective.revision);
    return value;
  }

  // The same records as the last step's (recording into `tape`): run them again, with the state they
  // left; the update's too when it is the same optimizer, lr, step signature and backup, else it is
  // recorded (recordUpdate). Returns the number of a guarded update's first check (−1: no backup).
  private rerunKept(tape: Tape, optimizer: StepOptimizer, rows: number, next: number, backup: number): number {
    this.gradientsUsed = false;
    this.batch = rows;
    this.phase = 'backward';
    this.inputGradReady = false;
    if (!this.replay.resume(tape, optimizer, next, backup)) return this.recordUpdate(tape, optimizer, next, backup);
    optimizer.replayedStep();
    return backup !== 0 ? this.replay.updateStart : -1;
  }

  // Records the update (the step's `next`-th) after the records made so far, recording into `tape`, and
  // keeps it with them. With a `backup` (fit's NaN guard: (1 + state slots) sections) the update comes
  // after a check of the gradients and a copy of the parameters and state into the backup, and before
  // checks of both: it runs only for finite gradients, and one that made them non-finite is found (to
  // be undone from the copy). Returns the number of the gradients' check (−1: no backup).
  private recordUpdate(tape: Tape, optimizer: StepOptimizer, next: number, backup: number): number {
    const section = this.sectionFloats;
    const stateFloats = this.memory.stateSlots * section;
    let check = -1;
    if (backup !== 0) {
      check = tape.guardFinite(this.gradsPointer, section);
      tape.copy(backup, this.paramsPointer, section);
      if (stateFloats > 0) tape.copy(backup + section * 4, this.statePointer(0), stateFloats);
    }
    optimizer.step();
    if (backup !== 0) {
      tape.guardFinite(this.paramsPointer, section);
      if (stateFloats > 0) tape.guardFinite(this.statePointer(0), stateFloats);
    }
    this.replay.updateRecorded(tape, optimizer, next, backup);
    return check;
  }

  // A fit step on the rows in place: its gradients and update recorded on `tape`, or its kept records run
  // again as trainStep's are (the data was checked when staged: no checks of x and y). `backup` as
  // recordUpdate's. Returns the number of the gradients' check (−1: no backup).
  private fitStepOnTape(tape: Tape, rows: number, optimizer: StepOptimizer, clipNorm: number, backup: number): number {
    const replay = this.replay;
    const memory = this.memory;
    const next = optimizer.stepCount + 1;
    this.useTraining(this.training);
    this.recording = tape;
    try {
      if (!this.dropoutActive && replay.matches(tape, FIT_STEP, memory.block, memory.version, rows, this.trainingActive, clipNorm, this.objective.slots, this.plan.layers)) {
        return this.rerunKept(tape, optimizer, rows, next, backup);
      }
      tape.begin();
      const epoch = tape.epoch;
      this.gradientsStaged(rows, clipNorm);
      if (tape.epoch === epoch && !this.dropoutActive) replay.keep(tape, FIT_STEP, memory.block, memory.version, rows, this.trainingActive, clipNorm, this.objective.slots, this.plan.layers);
      else replay.forget();
      return this.recordUpdate(tape, optimizer, next, backup);
    } finally {
      this.recording = undefined;
    }
  }

  // Runs a step's records and returns its loss. When a guard stopped them (x or y not finite, or y
  // outside its loss's range), the counters the step moved are put back and the error names the value.
  private runTaped(tape: Tape, optimizer: StepOptimizer, rows: number, stepCount: number, gradientsUsed: boolean, stream: number): number {
    tape.run();
    const value = this.objective.total(tape);
    if (tape.stopped) {
      optimizer.stepCount = stepCount;
      this.gradientsUsed = gradientsUsed;
      this.random.stream = stream;
      this.batch = 0;
      this.phase = 'none';
      throw this.staging.stoppedError(tape, rows, this.at.inputs, this.at.targets);
    }
    return value;
  }

  /**
   * @internal One step on rows already in the input and targets regions, with the losses set; clipNorm > 0
   * clips the gradients first.
   */
  trainStaged(rows: number, optimizer: StepOptimizer, clipNorm = 0): number {
    const tape = this.tapeFor(rows);
    if (tape !== undefined) {
      this.fitStepOnTape(tape, rows, optimizer, clipNorm, 0);
      tape.run();
      return this.objective.total(tape);
    }
    const value = this.gradientsStaged(rows, clipNorm);
    optimizer.step();
    return value;
  }

  /**
   * @internal fit's guarded step. Non-finite gradients or loss: no update (refused 'gradients'). An
   * update that makes a parameter or optimizer state non-finite is undone from the copy kept in
   * `backup` ((1 + state slots) sections) (refused 'update'). Either way weights, optimizer state and
   * step count end as before the step. Returns the loss; `refused` says what was refused, if anything.
   */
  guardedStaged(rows: number, optimizer: StepOptimizer, clipNorm: number, backup: number): number {
    const section = this.sectionFloats;
    const stateFloats = this.memory.stateSlots * section;
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
      const gradientGuard = this.fitStepOnTape(tape, rows, optimizer, clipNorm, backup);
      tape.run();
      value = this.objective.total(tape);
      gradientsBad = tape.stoppedAt === gradientGuard;
      updated = !gradientsBad;
      updateBad = tape.stopped && !gradientsBad;
    } else {
      const kernels = this.kernels;
      value = this.gradientsStaged(rows, clipNorm);
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

  /** @internal zeroGrad, forward, loss and backward (and clipping) on staged rows: a step but the update. */
  gradientsStaged(rows: number, clipNorm = 0): number {
    const kernels = this.kernels;
    this.gradientsUsed = false;
    this.useTraining(this.training);
    this.runForward(kernels, this.at, rows);
    const value = this.runLosses(kernels, this.at, rows);
    // zeroGrad without a pass over the gradients: the backward writes every trainable parameter's
    // gradient, and the rest are zeroed. The alignment gaps between them stay 0 from the block's start.
    this.executor.backward(kernels, rows, true, this.objective.withLoss());
    if (clipNorm > 0) clipGradNorm(this, clipNorm);
    this.batch = rows;
    this.phase = 'backward';
    this.inputGradReady = false;
    return value;
  }

  // ---- What fit and evaluate see (TrainableModel) ----

  /** @internal A data set checked once and copied into the backend's memory (see Staging.stage). */
  stageData(x: unknown, y: unknown, whatX: string, whatY: string): StagedData {
    return this.staging.stage(x, y, whatX, whatY);
  }

  /**
   * @internal Copies a batch of a staged data set into the input and targets regions: samples start …
   * start + count, or those of the int32 indices at byte `order` + 4·start of the backend's memory.
   */
  gather(data: StagedData, start: number, count: number, order = 0): void {
    this.staging.gather(data, start, count, order, this.at.inputs, this.at.targets);
  }

  /** @internal Gives a staged data set's memory back. */
  freeStaged(data: StagedData): void {
    this.staging.free(data);
  }

  /** @internal Output o's loss this step (undefined: none) and whether its targets are class labels. */
  lossOf(o: number): { readonly kind: LossName | undefined; readonly labels: boolean } {
    return this.objective.slots[o];
  }

  /** @internal Each output's loss of the last step, unweighted (a kept array). */
  get lossValues(): Float64Array {
    return this.objective.values;
  }

  /** @internal Output o's per-sample shape. */
  outputShape(o: number): readonly number[] {
    return this.plan.tensors[this.plan.outputs[o]].type.shape;
  }

  /** @internal Where output o is, for fit and evaluate. */
  outputPointer(o = 0): number {
    return this.at.outputs[o];
  }

  /** @internal Where output o's targets are staged. */
  targetsPointer(o = 0): number {
    return this.at.targets[o];
  }

  /**
   * @internal Where non-finite values first appear after a forward and backward: the first node whose
   * output, then the first parameter whose gradient, holds NaN or ±Infinity; undefined if none does.
   */
  firstNonFinite(): string | undefined {
    const kernels = this.kernels;
    const plan = this.plan;
    for (const node of plan.nodes) {
      const tensor = plan.tensors[node.output];
      if (tensor.type.dtype !== 'float32') continue;
      if (kernels.count_nonfinite(this.at.calls[node.index].output, this.batch * tensor.size) > 0) return this.describeNode(node.index);
    }
    for (const parameter of this.namedParameters()) {
      if (kernels.count_nonfinite(parameter.grad.byteOffset, parameter.size) > 0) return `the gradient of ${parameter.name}`;
    }
    return undefined;
  }

  /** @internal How fit's NaN guard names a node's output. */
  protected describeNode(node: number): string {
    const layer = this.plan.nodes[node].layer;
    return `the output of ${this.plan.layerNames[this.plan.layerIndexOf(layer)]} (${layer.kind})`;
  }

  /** @internal Grows the activation regions to hold `rows` samples. */
  reserveRows(rows: number): void {
    this.memory.reserve(rows);
  }

  /** @internal Samples the activation regions hold now. */
  get rowCapacity(): number {
    return this.memory.capacity;
  }

  /** @internal Marks the activations as not from a forward() of the caller's (after evaluation runs). */
  forgetActivations(): void {
    this.batch = 0;
    this.phase = 'none';
  }

  /** @internal Bytes of the block. */
  get blockBytes(): number {
    return this.memory.bytes;
  }

  /** @internal The current batch and phase, for inspection. */
  get lastBatch(): number {
    return this.batch;
  }

  get lastPhase(): Phase {
    return this.phase;
  }

  /** @internal Where node n's tensors are (its output, saved tensors, output gradient and working gradient). */
  nodeRegions(n: number): { output: number; saved: number[]; outputGrad: number; workGrad: number } {
    const call = this.at.calls[n];
    return { output: call.output, saved: call.saved, outputGrad: call.outputGrad, workGrad: call.workGrad };
  }

  /** Trains on x, y for some epochs of mini-batches; see FitOptions. */
  fit(x: Inputs, y: TargetsFor, options: FitOptions): Promise<History> {
    this.checkAlive();
    return fit(this, x, y, options);
  }

  /** The mean loss and the metrics on x, y (in batches, no gradients): { loss, accuracy, … }. */
  evaluate(x: Inputs, y: TargetsFor, options: EvaluateOptions): EpochLogs {
    this.checkAlive();
    return evaluate(this, x, y, options);
  }

  // ---- Parameters and files ----

  /** @internal The name a parameter goes by in namedParameters() (Sequential keeps its own). */
  protected parameterName(p: number): string {
    return this.plan.parameters[p].name;
  }

  /** Every parameter tensor with its gradient (see NamedParameter), in layer order. */
  namedParameters(): NamedParameter[] {
    this.checkAlive();
    return this.plan.parameters.map((parameter, p) =>
      new NamedParameter(this, this.parameterName(p), parameter.shape, parameter.start * 4, parameter.size, parameter.tags));
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

  /** @internal The architecture as its file records it: saved optimizer state must be for the same one. */
  get architecture(): string {
    return JSON.stringify(describeGraph(this.plan, this.inputNames, this.outputNames, this.inputForm, this.outputForm));
  }

  /** @internal The PyTorch name of parameter p (Sequential's are nn.Sequential's). */
  protected torchName(p: number): string {
    return this.plan.parameters[p].name;
  }

  /** Every parameter and buffer as PyTorch keeps it: name, shape and values (in PyTorch's layout). */
  stateDict(): NamedTensor[] {
    this.checkAlive();
    return stateDict(this.plan, this.backend.heap.f32, this.paramsPointer >> 2, this.buffersPointer >> 2, (p) => this.torchName(p));
  }

  /**
   * The model as safetensors bytes: every parameter and buffer under its PyTorch name, in PyTorch's
   * layout (torch's load_state_dict takes the file), and the graph in the metadata, from which
   * Model.load() rebuilds the model bit-exactly; with { optimizer }, its state too.
   */
  save(options: { optimizer?: { readonly model: unknown; stateForSaving(): OptimizerState } } = {}): Uint8Array {
    this.checkAlive();
    if (options.optimizer !== undefined && options.optimizer.model !== this) {
      throw new SimdpropError('OPTION', 'save({ optimizer }) takes an optimizer made for this model');
    }
    const graph = describeGraph(this.plan, this.inputNames, this.outputNames, this.inputForm, this.outputForm);
    return writeGraphFile(graph, this.stateDict(), { seed: this.random.seed, stream: this.random.stream }, options.optimizer?.stateForSaving());
  }

  /**
   * A model from bytes that save() wrote: the same graph, bit-identical parameters and buffers, and the
   * seed and dropout stream (so training goes on drawing the masks it would have). `layers` remakes
   * custom layers by the kind they were saved under.
   */
  static load(bytes: Uint8Array, options: { backend?: BackendName; layers?: LayerFactories } = {}): Model {
    // Every tensor is read and checked before the model is made: a bad file allocates no model.
    const { inputs, outputs, random, values, layerNames } = rebuildGraph(bytes, options.layers);
    const model = new Model({ inputs, outputs }, { backend: options.backend, seed: random.seed }, layerNames);
    writeState(model.plan, model.backend.heap.f32, model.paramsPointer >> 2, model.buffersPointer >> 2, values);
    model.random.stream = random.stream;
    return model;
  }

  /**
   * Loads a PyTorch state_dict saved as safetensors (safetensors.torch.save_file(module.state_dict(), …))
   * into this model by tensor name — each layer's name is its PyTorch attribute path — converting
   * layouts (a Linear's [out, in] weight). Missing or unexpected keys (with `strict`, the default) and
   * wrong shapes are a FILE error naming them, before any weight changes. Returns the keys it did
   * not use and those it did not find, as PyTorch's load_state_dict does.
   */
  loadStateDict(bytes: Uint8Array, options: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
    this.checkAlive();
    const state = readState(this.plan, parseSafetensors(bytes), (p) => this.torchName(p), options.strict ?? true, false);
    writeState(this.plan, this.backend.heap.f32, this.paramsPointer >> 2, this.buffersPointer >> 2, state.values);
    return { missingKeys: state.missing, unexpectedKeys: state.unexpected };
  }

  /** A table of the layers, their output shapes and parameter counts, and the memory the model holds. */
  summary(): string {
    this.checkAlive();
    const plan = this.plan;
    const rows: string[][] = [['layer', 'kind', 'output', 'parameters', 'trainable']];
    plan.inputs.forEach((t, i) => rows.push([this.inputNames[i], 'input', formatBatchShape(plan.tensors[t].type.shape), '0', '']));
    for (const node of plan.nodes) {
      node.layers.forEach((layer, k) => {
        const l = plan.layerIndexOf(layer);
        // A tied parameter counts once, with its owner; the layers tied to it say so.
        const own = plan.layerParameters[l].filter((p) => plan.parameters[p].layer === l);
        const tied = plan.layerParameters[l].filter((p) => plan.parameters[p].layer !== l);
        const count = own.reduce((sum, p) => sum + plan.parameters[p].size, 0);
        const shape = k === node.layers.length - 1 ? formatBatchShape(plan.tensors[node.output].type.shape) : '';
        const tiedNote = tied.map((p) => ` + ${plan.parameters[p].name} (tied)`).join('');
        rows.push([plan.layerNames[l], layer.kind, shape, count.toLocaleString('en-US') + tiedNote, count + tied.length === 0 ? '' : layer.trainable ? 'yes' : 'frozen']);
      });
    }
    const trainable = plan.parameters.reduce((sum, p) => sum + (plan.layers[p.layer].trainable ? p.size : 0), 0);
    return summaryTable(rows, [
      `parameters: ${this.parameterCount.toLocaleString('en-US')} (${trainable.toLocaleString('en-US')} trainable)`,
      this.memoryLine(),
    ]);
  }

  /** @internal The summary's last line: the bytes the model holds and what they are for. */
  protected memoryLine(): string {
    const slots = this.memory.stateSlots;
    return `memory: ${this.blockBytes.toLocaleString('en-US')} bytes on ${this.backend.description} ` +
      `(params, grads, ${slots} optimizer state slot${slots === 1 ? '' : 's'}, activations for ${this.memory.capacity} rows)`;
  }

  /** Returns the model's memory to its backend; any later call throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.memory.dispose(this);
  }
}

/** A batch shape for summaries: [batch, ...]. */
function formatBatchShape(shape: readonly number[]): string {
  return `[batch, ${shape.join(', ')}]`;
}

/** A summary: a header row, its rule, the rows (the fourth column right-aligned), then the closing lines. */
export function summaryTable(rows: string[][], closing: string[]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  const line = (row: string[]): string => row.map((cell, c) => (c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
  return [line(rows[0]), '-'.repeat(line(rows[0]).length), ...rows.slice(1).map(line), '', ...closing].join('\n');
}

// A model: a graph of layers from inputs to outputs, run over one block of its backend's memory laid
// out by its plan (params | grads | optimizer state | buffers | activations, saved tensors and their
// gradients | targets | scratch). Forward runs the plan's nodes in order, backward in reverse, each
// node's op calling kernels over pointers made once per layout; a training step records its kernel
// calls on the backend's tape and crosses into wasm once, and a step of the same shape replays them.
import type { ActivationName } from '../activations.js';
import type { Backend, BackendName } from '../backend/backend.js';
import type { Kernels } from '../backend/kernels.js';
import type { Tape } from '../backend/wasm/tape.js';
import {
  checkTargetValues, copyTargets, matrixRows, nonFiniteError, targetsAreLabels, writeLabels, writeMatrix,
  type Matrix, type Targets,
} from '../data.js';
import { SimdpropError, describe } from '../errors.js';
import { getBackend } from '../init.js';
import { checkLoss, checkLossFitsOutput, huberDelta, lossTakesTargets, runLoss, targetsAreProbabilities, type LossName } from '../losses.js';
import { clipGradNorm } from '../optim/clip.js';
import { Rng } from '../rng.js';
import { MIN_SPLIT_MACS, MIN_SPLIT_PARAMS } from '../threads/threaded.js';
import { readGraphFile, writeGraphFile, type GraphRecord, type NamedTensor } from '../io/graph-file.js';
import { parseSafetensors, readTensor } from '../io/safetensors.js';
import type { OptimizerState } from '../io/sequential-file.js';
import { layerFromConfig, type LayerFactories } from '../layers/registry.js';
import { evaluate, fit, type EvaluateOptions, type FitOptions, type History, type LossSpec } from '../fit.js';
import type { EpochLogs } from '../train/callbacks.js';
import type { OpCall, RandomStream, TorchLayout } from './op.js';
import { alignFloats, layOut, Plan, type Layout, type PlannedLayer } from './plan.js';
import { input, type SymbolicTensor } from './symbolic.js';

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

export interface ModelOptions {
  /** Seed of the weight initialization and of dropout: the same seed gives the same weights (default 0). */
  seed?: number;
  /** Which backend the model runs on (default: the one init() chose). */
  backend?: BackendName;
}

/** One tensor, several in order, or several by name. */
export type Tensors = SymbolicTensor | readonly SymbolicTensor[] | Readonly<Record<string, SymbolicTensor>>;

/** A batch for one input: rows of floats (Float32Array rows × size, or arrays of rows), or int32 indices. */
export type InputData = Matrix | Int32Array | number[];
/** What forward() and the training calls take: one input's batch, or one per input (in order, or by name). */
export type Inputs = InputData | readonly InputData[] | Readonly<Record<string, InputData>>;
/** Targets for one output, or one per output (in order, or by name). */
export type TargetsFor = Targets | readonly Targets[] | Readonly<Record<string, Targets>>;
export type { LossSpec };

export interface LossCallOptions {
  /** Huber's threshold (default 1). */
  delta?: number;
  /** Weights of the outputs' losses in the total (default 1 each), in order or by output name. */
  lossWeights?: readonly number[] | Readonly<Record<string, number>>;
}

/** What an optimizer is to a model: something that steps, whose step signature keys the tape's replay. */
export interface StepOptimizer {
  readonly model: unknown;
  readonly lr: number;
  stepCount: number;
  step(): void;
  stepSignature(step: number): number;
  replayedStep(): void;
}

export interface TrainStepOptions extends LossCallOptions {
  loss: LossSpec;
  optimizer: StepOptimizer;
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

/** The loss on one output for the current step: its kind (undefined: none), targets and weight. */
interface OutputLoss {
  kind: LossName | undefined;
  /** Whether it compares the output with targets (every loss but 'mean'), and whether they are class labels. */
  targets: boolean;
  labels: boolean;
  delta: number;
  weight: number;
}

/** Every pointer of one layout from one base: the ops' calls and the model's own regions. */
export interface Pointers {
  readonly base: number;
  readonly calls: OpCall[];
  readonly inputs: number[];
  readonly inputGrads: number[];
  readonly outputs: number[];
  readonly outputGrads: number[];
  readonly targets: number[];
}

/** A data set staged in the backend's memory (see Model.stageData). */
export interface StagedData {
  readonly block: number;
  readonly rows: number;
  /** Where each input's samples and each output's targets start (0: an output without a loss). */
  readonly inputs: readonly number[];
  readonly targets: readonly number[];
  /** Whether each output's targets are class labels. */
  readonly labels: readonly boolean[];
}

/** What a model's kept tape records were recorded for (see Model's replay). */
interface StepReplay {
  /** The tape's epoch when they were recorded; −1: nothing kept. */
  epoch: number;
  count: number;
  losses: Int32Array;
  lossCount: number;
  block: number;
  layout: number;
  rows: number;
  kinds: (LossName | undefined)[];
  labels: boolean[];
  deltas: number[];
  weights: number[];
  trainable: boolean[];
  /** Records up to and with the update (−1: only `count` kept), and what the update was recorded for. */
  total: number;
  optimizer: StepOptimizer | undefined;
  lr: number;
  signature: number;
}

// Frees a model's block if the model is garbage-collected without dispose(): a safety net only, and
// absent where the runtime has no FinalizationRegistry (workerd).
const blocks = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry<{ backend: Backend; block: number }>((cell) => cell.backend.heap.free(cell.block))
  : undefined;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);

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
  /** Whether outputs (and so forward's results) are one tensor, an array or a record. */
  private readonly outputForm: 'single' | 'array' | 'record';
  private readonly inputForm: 'single' | 'array' | 'record';
  private readonly cell: { backend: Backend; block: number };
  private stateSlots = 0;
  private capacity = 0;
  private layout!: Layout;
  /** @internal The pointers of the current layout in the model's block. */
  at!: Pointers;
  private batch = 0;
  private phase: Phase = 'none';
  private inputGradReady = false;
  private disposed = false;
  /** @internal The seed and the dropout stream, which each mask drawn bumps. */
  readonly random: RandomStream;
  private dropoutActive = false;
  /** Whether any node draws random masks in training (dropout). */
  private readonly drawsMasks: boolean;
  /** Set when an optimizer steps, cleared by zeroGrad: a backward() then adds to gradients already used. */
  private gradientsUsed = false;
  private warnedAccumulation = false;
  private readonly outputViews: (Float32Array | undefined)[];
  private inputGradViews: (Float32Array | undefined)[];
  /** The backend's tape while a training step records its kernel calls into it. */
  private recording: Tape | undefined = undefined;
  /** Bumped by every relayout: the regions' offsets within the block changed. */
  private layoutVersion = 0;
  /** The losses of the current step, one per output. */
  private readonly losses: OutputLoss[];
  /** Each graph input's lowest index bound over the embeddings that read it (Infinity: none). */
  private readonly indexBounds: number[];
  /** Each input's values per sample, and whether it holds int32 indices. */
  private readonly inputSizes: number[];
  private readonly inputIndices: boolean[];
  /** Kept arrays the inputs and targets of a call are sorted into, and how errors name them ('x.tokens'). */
  private readonly inputData: InputData[];
  private readonly targetData: unknown[];
  private readonly inputLabels: string[];
  private readonly targetLabels: string[];
  /** The squashing each output ends with (the losses that take logits refuse one). */
  private readonly outputActivations: ActivationName[];
  /** Each output's values per sample, classes (its last axis) and positions (the rest) per sample. */
  private readonly outputSizes: number[];
  private readonly outputClasses: number[];
  private readonly outputPositions: number[];
  /** forward()'s results for several outputs: one array or record, its views replaced each call. */
  private readonly outputArray: Float32Array[];
  private readonly outputRecord: Record<string, Float32Array>;
  /**
   * The tape records of this model's last trainStep — the checks of x and y, zeroing the gradients,
   * forward, loss and backward, then the update — and what they were recorded for. A step of the same
   * shape runs the first part again instead of recording it anew, and the update too while the
   * optimizer, its learning rate and its step signature (Optimizer.stepSignature) are the same.
   */
  private readonly replay: StepReplay;
  // The backward's configuration, recomputed when the trainable layers, the mode or the outputs with
  // gradients change (see configureBackward).
  private configured = false;
  private configuredWrite = false;
  private readonly configuredSources: boolean[];
  private readonly configuredTrainable: boolean[];
  private readonly runsBackward: boolean[];
  /** In write mode: parameters no backward writes this step (frozen, or unreached), filled with 0 instead. */
  private readonly zeroed: number[] = [];
  private readonly outputsWithGradient: boolean[];

  constructor(graph: { inputs: Tensors; outputs: Tensors }, options: ModelOptions = {}) {
    if (!isRecord(graph) || graph.inputs === undefined || graph.outputs === undefined) {
      throw new SimdpropError('OPTION', `Model needs { inputs, outputs }, got ${describe(graph)}`);
    }
    const [inputs, inputNames, inputForm] = Model.tensorList(graph.inputs, 'inputs');
    const [outputs, outputNames, outputForm] = Model.tensorList(graph.outputs, 'outputs');
    inputNames.forEach((name, i) => {
      if (name !== undefined && inputs[i].name !== undefined && inputs[i].name !== name) {
        throw new SimdpropError('GRAPH', `inputs.${name} is the input named "${inputs[i].name}": name it one way`);
      }
    });
    const seed = options.seed ?? 0;
    if (!Number.isInteger(seed)) throw new SimdpropError('OPTION', `seed must be an integer, got ${describe(seed)}`);
    this.backend = getBackend(options.backend);
    this.plan = new Plan(inputs, outputs, outputNames);
    const plan = this.plan;
    if (inputForm === 'record') plan.inputNames.splice(0, plan.inputNames.length, ...inputNames.map((name) => name!));
    this.inputNames = plan.inputNames;
    this.outputNames = plan.outputNames;
    this.inputForm = inputForm;
    this.outputForm = outputForm;
    this.sectionFloats = plan.sectionFloats;
    this.parameterCount = plan.parameterCount;
    this.random = { seed, stream: 0, reuse: false };
    this.drawsMasks = plan.layers.some((layer) => layer.kind === 'dropout');
    this.outputViews = plan.outputs.map(() => undefined);
    this.inputGradViews = plan.inputs.map(() => undefined);
    this.losses = plan.outputs.map(() => ({ kind: undefined, targets: false, labels: false, delta: 1, weight: 1 }));
    this.inputData = plan.inputs.map(() => undefined as unknown as InputData);
    this.inputSizes = plan.inputs.map((t) => plan.tensors[t].size);
    this.inputIndices = plan.inputs.map((t) => plan.tensors[t].type.dtype === 'int32');
    this.targetData = plan.outputs.map(() => undefined);
    this.inputLabels = this.inputNames.map((name) => `x.${name}`);
    this.targetLabels = this.outputNames.map((name) => `y.${name}`);
    this.outputArray = [];
    this.outputRecord = {};
    this.outputSizes = plan.outputs.map((t) => plan.tensors[t].size);
    this.outputClasses = plan.outputs.map((t) => plan.tensors[t].type.shape[plan.tensors[t].type.shape.length - 1]);
    this.outputPositions = plan.outputs.map((_, o) => this.outputSizes[o] / this.outputClasses[o]);
    this.outputActivations = plan.outputs.map((t) => {
      const producer = plan.tensors[t].producer;
      return producer < 0 ? 'linear' : (plan.nodes[producer].op as { activation?: ActivationName }).activation ?? 'linear';
    });
    this.indexBounds = plan.inputs.map((t) => plan.tensors[t].consumers.reduce(
      (bound, n) => Math.min(bound, plan.nodes[n].spec.indexBound ?? Infinity), Infinity));
    this.configuredSources = plan.outputs.map(() => false);
    this.outputsWithGradient = plan.outputs.map(() => false);
    this.configuredTrainable = plan.layers.map(() => true);
    this.runsBackward = plan.nodes.map(() => false);
    this.replay = {
      epoch: -1, count: 0, losses: new Int32Array(16), lossCount: 0, block: 0, layout: 0, rows: 0,
      kinds: plan.outputs.map(() => undefined), labels: plan.outputs.map(() => false), deltas: plan.outputs.map(() => 1),
      weights: plan.outputs.map(() => 1), trainable: [], total: -1, optimizer: undefined, lr: NaN, signature: NaN,
    };
    this.cell = { backend: this.backend, block: 0 };
    this.relayout(1, 0);
    this.initialize(new Rng(seed));
    blocks?.register(this, this.cell, this);
  }

  // The tensors of { inputs } or { outputs }: one, an array, or a record (whose keys name them).
  private static tensorList(given: Tensors, what: string): [SymbolicTensor[], (string | undefined)[], 'single' | 'array' | 'record'] {
    if (Array.isArray(given)) {
      if (given.length === 0) throw new SimdpropError('GRAPH', `${what} is empty: a model needs at least one`);
      return [[...given], given.map(() => undefined), 'array'];
    }
    if (isRecord(given) && !('producer' in given && 'dtype' in given)) {
      const names = Object.keys(given);
      if (names.length === 0) throw new SimdpropError('GRAPH', `${what} is empty: a model needs at least one`);
      return [names.map((name) => (given as Record<string, SymbolicTensor>)[name]), names, 'record'];
    }
    return [[given as SymbolicTensor], [undefined], 'single'];
  }

  /** Every layer of the model, in the order of first use. */
  get layers(): readonly PlannedLayer[] {
    return this.plan.layers;
  }

  /** @internal The kernels the model's work goes to: the backend's, or its tape while a step records. */
  get kernels(): Kernels {
    return this.recording ?? this.backend.kernels;
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

  /** @internal Byte offset of the buffers section. */
  get buffersPointer(): number {
    return this.cell.block + this.layout.buffers;
  }

  /** @internal How many parameter tensors the model has. */
  get tensorCount(): number {
    return this.plan.parameters.length;
  }

  /** @internal The layer tensor t belongs to, and what groups select it by. */
  tensorLayer(t: number): PlannedLayer {
    return this.plan.layers[this.plan.parameters[t].layer];
  }

  tensorTags(t: number): readonly string[] {
    return this.plan.parameters[t].tags;
  }

  /** @internal Float offset of tensor t in the params section. */
  tensorStart(t: number): number {
    return this.plan.parameters[t].start;
  }

  /** @internal Where tensor t's span ends: the next tensor's start (padding included), or the section's end. */
  tensorEnd(t: number): number {
    return this.plan.parameterEnd(t);
  }

  /** @internal Tensors of at least this many floats the threads split: an optimizer updates them apart. */
  get splitTensorsFrom(): number {
    return this.backend.threads > 1 ? MIN_SPLIT_PARAMS : Infinity;
  }

  /** @internal Adds `count` zeroed state slots for an optimizer; returns the first slot's index. */
  reserveStateSlots(count: number): number {
    this.checkAlive();
    const first = this.stateSlots;
    this.relayout(this.capacity, first + count);
    return first;
  }

  // Moves the model to a block sized for `capacity` samples and `slots` state slots, keeping params,
  // grads, state and buffers; activations are not kept.
  private relayout(capacity: number, slots: number): void {
    const plan = this.plan;
    const layout = layOut(plan, capacity, slots);
    const section = this.sectionFloats * 4;
    const heap = this.backend.heap;
    const block = heap.alloc(layout.bytes);
    const old = this.cell.block;
    const kernels = this.backend.kernels;
    if (old !== 0) {
      kernels.copy(block, old, (2 + this.stateSlots) * this.sectionFloats);
      if (plan.bufferFloats > 0) kernels.copy(block + layout.buffers, old + this.layout.buffers, plan.bufferFloats);
      heap.free(old);
    } else {
      kernels.fill(block, 2 * this.sectionFloats, 0);
    }
    if (slots > this.stateSlots) {
      kernels.fill(block + (2 + this.stateSlots) * section, (slots - this.stateSlots) * this.sectionFloats, 0);
    }
    this.layoutVersion++;
    this.cell.block = block;
    this.capacity = capacity;
    this.stateSlots = slots;
    this.layout = layout;
    this.at = this.pointers(block);
    this.configured = false;
    this.batch = 0;
    this.phase = 'none';
    this.outputViews.fill(undefined);
    this.inputGradViews.fill(undefined);
  }

  /**
   * @internal The current layout's pointers from `base`: the model's own block, or a copy of it
   * elsewhere (the gradient check runs the plan over a float64 copy).
   */
  pointers(base: number, memory: () => Float32Array = () => this.backend.heap.f32): Pointers {
    const { plan, layout } = this;
    const section = this.sectionFloats * 4;
    const calls = plan.nodes.map((node): OpCall => {
      const layer = plan.layerIndexOf(node.layer);
      const params = plan.layerParameters[layer].map((p) => base + plan.parameters[p].start * 4);
      return {
        node: node.spec, rows: 0, training: false,
        inputs: node.inputs.map((t) => base + layout.values[t]),
        output: base + layout.values[node.output],
        params,
        buffers: plan.layerBuffers[layer].map((b) => base + layout.buffers + plan.buffers[b].start * 4),
        saved: layout.saved[node.index].map((offset) => base + offset),
        scratch: base + layout.scratch,
        random: this.random,
        memory,
        outputGrad: base + layout.grads[node.output],
        workGrad: base + layout.workGrads[node.index],
        inputGrads: node.inputs.map(() => 0),
        accumulateInputs: node.inputs.map(() => 0),
        paramGrads: params.map((p) => p + section),
        accumulateParams: 0,
        again: false,
      };
    });
    return {
      base, calls,
      inputs: plan.inputs.map((t) => base + layout.values[t]),
      inputGrads: plan.inputs.map((t) => (layout.grads[t] === 0 ? 0 : base + layout.grads[t])),
      outputs: plan.outputs.map((t) => base + layout.values[t]),
      outputGrads: plan.outputs.map((t) => base + layout.grads[t]),
      targets: layout.targets.map((offset) => base + offset),
    };
  }

  private initialize(rng: Rng): void {
    const f32 = this.backend.heap.f32;
    for (const parameter of this.plan.parameters) fillInitial(f32, (this.paramsPointer >> 2) + parameter.start, parameter.size, parameter.init, rng);
    for (const buffer of this.plan.buffers) fillInitial(f32, (this.buffersPointer >> 2) + buffer.start, buffer.size, buffer.init, rng);
  }

  protected checkAlive(): void {
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

  // ---- Inputs and targets: checked, then copied into the block ----

  /** The batch for each input, in the model's order, from one value, an array or a record (into a kept array). */
  private inputsOf(x: unknown, what: string): InputData[] {
    const data = this.inputData;
    if (data.length === 1 && (x instanceof Float32Array || !(isRecord(x) && this.inputNames[0] in x))) {
      data[0] = x as InputData;
      return data;
    }
    return this.perName(x, data, this.inputNames, what, 'inputs');
  }

  // Fills `into` with one value per name from an array of them or a record by name.
  private perName<T>(value: unknown, into: T[], names: readonly string[], what: string, kind: string): T[] {
    const count = into.length;
    if (Array.isArray(value) && value.length === count && (count > 1 || !Array.isArray(value[0]))) {
      for (let i = 0; i < count; i++) into[i] = value[i] as T;
      return into;
    }
    if (isRecord(value)) {
      for (const key in value) {
        if (!names.includes(key)) throw new SimdpropError('SHAPE', `${what} names ${kind} "${key}", but the model's ${kind} are ${names.join(', ')}`);
      }
      for (let i = 0; i < count; i++) into[i] = value[names[i]] as T;
      return into;
    }
    throw new SimdpropError('TYPE', `${what} must give each of the model's ${count} ${kind} (${names.join(', ')}): an array of ${count} or a record by name, got ${describe(value)}`);
  }

  /** How errors name input i's data: 'x' for a one-input model, else x.name (made once for 'x'). */
  private inputWhat(i: number, what: string): string {
    if (this.plan.inputs.length === 1) return what;
    return what === 'x' ? this.inputLabels[i] : `${what}.${this.inputNames[i]}`;
  }

  /** Checks the batches' types and shapes, the same row count in each, and the int32 inputs' values; returns the rows. */
  private checkInputs(data: InputData[], what: string): number {
    let rows = -1;
    for (let i = 0; i < data.length; i++) {
      const name = this.inputWhat(i, what);
      const count = this.inputIndices[i] ? indexRows(data[i], this.inputSizes[i], name) : matrixRows(data[i], this.inputSizes[i], name);
      if (rows >= 0 && count !== rows) {
        throw new SimdpropError('SHAPE', `${name} has ${count} rows, but ${this.inputWhat(0, what)} has ${rows}: every input needs one row per sample`);
      }
      rows = count;
    }
    return rows;
  }

  /**
   * Makes room for `rows` samples and copies the inputs in (their shapes and types were checked; the
   * int32 inputs' values are checked here, before anything is written). Floats' finiteness is not checked.
   */
  private copyInputs(data: InputData[], rows: number, what: string): void {
    this.checkIndexInputs(data, what);
    this.ensureCapacity(rows);
    this.batch = 0;
    this.phase = 'none';
    this.writeInputs(data, what, this.at.inputs);
  }

  private checkIndexInputs(data: InputData[], what: string): void {
    for (let i = 0; i < data.length; i++) {
      if (this.inputIndices[i]) checkIndices(data[i] as Int32Array | number[] | number[][], this.indexBounds[i], this.inputWhat(i, what));
    }
  }

  /** Writes each input's checked batch at `destinations[i]`. */
  private writeInputs(data: InputData[], what: string, destinations: readonly number[]): void {
    const heap = this.backend.heap;
    for (let i = 0; i < data.length; i++) {
      const at = destinations[i] >> 2;
      if (this.inputIndices[i]) writeIndices(heap.i32, at, data[i] as Int32Array | number[] | number[][], this.inputSizes[i]);
      else writeMatrix(heap.f32, at, data[i] as Matrix, this.inputSizes[i], this.inputWhat(i, what));
    }
  }

  // Checks x and copies it into the input regions; afterwards nothing but activations has changed.
  private stageInputs(x: unknown, what: string): number {
    const data = this.inputsOf(x, what);
    const rows = this.checkInputs(data, what);
    this.copyInputs(data, rows, what);
    this.checkFiniteInputs(rows, what, undefined, this.at.inputs);
    return rows;
  }

  // The float inputs at `at` must be finite: checked now, or recorded as the tape's guards.
  private checkFiniteInputs(rows: number, what: string, guard: Tape | undefined, at: readonly number[]): void {
    const plan = this.plan;
    for (let i = 0; i < plan.inputs.length; i++) {
      const tensor = plan.tensors[plan.inputs[i]];
      if (tensor.type.dtype !== 'float32') continue;
      const n = rows * tensor.size;
      if (guard !== undefined) guard.guardFinite(at[i], n);
      else if (this.kernels.count_nonfinite(at[i], n) !== 0) throw nonFiniteError(this.backend.heap.f32, at[i] >> 2, n, tensor.size, this.inputWhat(i, what));
    }
  }

  /** @internal Reads `loss` (and the weights) into the step's losses; checks each against its output. */
  useLosses(loss: unknown, options: LossCallOptions | undefined): void {
    const count = this.plan.outputs.length;
    const delta = huberDelta(options);
    if (count === 1 && typeof loss === 'string' && options?.lossWeights === undefined) {
      // The common case, on every step of a one-output model: no arrays, records or weights to read.
      const kind = checkLoss(loss);
      checkLossFitsOutput(kind, this.outputActivations[0]);
      const slot = this.losses[0];
      slot.kind = kind;
      slot.targets = lossTakesTargets(kind);
      slot.delta = delta;
      slot.weight = 1;
      return;
    }
    const single = count === 1 && !isRecord(loss);
    if (!single && !(Array.isArray(loss) && loss.length === count) && !isRecord(loss)) {
      throw new SimdpropError('OPTION', `loss must name a loss for each of the model's ${count} outputs (${this.outputNames.join(', ')}): ` +
        `an array of ${count} or a record by output name, got ${describe(loss)}`);
    }
    if (isRecord(loss)) {
      for (const key in loss) {
        if (!this.outputNames.includes(key)) throw new SimdpropError('OPTION', `loss names output "${key}", but the model's outputs are ${this.outputNames.join(', ')}`);
      }
    }
    const weights = options?.lossWeights;
    let any = false;
    for (let o = 0; o < count; o++) {
      const given = single ? loss : Array.isArray(loss) ? loss[o] : (loss as Record<string, unknown>)[this.outputNames[o]];
      const kind = given === undefined && count > 1 ? undefined : checkLoss(given);
      if (kind !== undefined) checkLossFitsOutput(kind, this.outputActivations[o]);
      let weight = 1;
      if (weights !== undefined) {
        const value = Array.isArray(weights) ? weights[o] : isRecord(weights) ? (weights as Record<string, number>)[this.outputNames[o]] : undefined;
        if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
          throw new SimdpropError('OPTION', `lossWeights for output "${this.outputNames[o]}" must be a finite number ≥ 0, got ${describe(value)}`);
        }
        weight = value ?? 1;
      }
      const slot = this.losses[o];
      slot.kind = kind;
      slot.targets = kind !== undefined && lossTakesTargets(kind);
      slot.delta = delta;
      slot.weight = weight;
      any ||= kind !== undefined;
    }
    if (!any) throw new SimdpropError('OPTION', 'loss gives no output a loss');
  }


  /** The targets of each output, in order (into a kept array). */
  private targetsOf(y: unknown, what: string): unknown[] {
    const targets = this.targetData;
    if (targets.length === 1 && (ArrayBuffer.isView(y) || !(isRecord(y) && this.outputNames[0] in y))) {
      targets[0] = y;
      return targets;
    }
    return this.perName(y, targets, this.outputNames, what, 'outputs');
  }

  // Checks y against the losses and the batch and copies it into the targets regions, setting each
  // loss's `labels`, then checks the float targets' values.
  private stageTargets(y: unknown, rows: number): void {
    this.copyTargetsIn(y, rows, 'y', this.at.targets);
    this.checkTargetValues(rows, 'y', this.at.targets);
  }

  private checkTargetValues(rows: number, what: string, at: readonly number[]): void {
    for (let o = 0; o < this.losses.length; o++) {
      const slot = this.losses[o];
      if (!slot.targets || slot.labels) continue;
      const size = this.plan.tensors[this.plan.outputs[o]].size;
      checkTargetValues(this.backend.heap.f32, at[o] >> 2, rows * size, size, targetsAreProbabilities(slot.kind!), this.targetWhat(o, what));
    }
  }

  private targetWhat(o: number, what = 'y'): string {
    if (this.plan.outputs.length === 1) return what;
    return what === 'y' ? this.targetLabels[o] : `${what}.${this.outputNames[o]}`;
  }

  // Records the check of output o's float targets as a guard on the tape.
  private guardTargets(tape: Tape, o: number, rows: number): void {
    const at = this.at.targets[o];
    const n = rows * this.plan.tensors[this.plan.outputs[o]].size;
    // The largest float32 bounds: ±Infinity lie outside, as the JS check has it.
    if (targetsAreProbabilities(this.losses[o].kind!)) tape.guardInside(at, n, 0, 1);
    else tape.guardInside(at, n, -FLOAT32_MAX, FLOAT32_MAX);
  }

  /** Targets of output o per sample: class labels (one per position) or values (one per output value). */
  private targetWidth(o: number, labels: boolean): number {
    const tensor = this.plan.tensors[this.plan.outputs[o]];
    return labels ? tensor.size / tensor.type.shape[tensor.type.shape.length - 1] : tensor.size;
  }

  // The type and shape checks of the targets (and the labels' range) and the copy to `destinations`;
  // the values of float targets are not checked. Sets each loss's `labels`.
  private copyTargetsIn(y: unknown, rows: number, what: string, destinations: readonly number[]): void {
    const heap = this.backend.heap;
    const targets = this.targetsOf(y, what);
    // Every check before any copy (a bad second output's targets leave the first's region as it was);
    // with one output the copy checks as it goes.
    for (let pass = this.losses.length === 1 ? 1 : 0; pass < 2; pass++) {
      for (let o = 0; o < this.losses.length; o++) {
        const slot = this.losses[o];
        if (!slot.targets) continue;
        const value = targets[o];
        const at = destinations[o] >> 2;
        if (slot.kind === 'softmaxCrossEntropy' && targetsAreLabels(value)) {
          slot.labels = true;
          const count = rows * this.outputPositions[o];
          const classes = this.outputClasses[o];
          if (pass === 1) writeLabels(heap.i32, at, value as Int32Array | number[], count, classes, this.targetWhat(o, what));
          else checkLabels(value as Int32Array | number[], count, classes, this.targetWhat(o, what), this.outputPositions[o]);
          continue;
        }
        slot.labels = false;
        if (!(value instanceof Float32Array || value instanceof Int32Array || Array.isArray(value))) {
          throw new SimdpropError('TYPE',
            `${this.targetWhat(o, what)} must be class labels (Int32Array or number[]) or targets (Float32Array or number[][]), got ${describe(value)}`);
        }
        const size = this.outputSizes[o];
        if (pass === 0) checkTargetShape(value as Targets, rows, size, this.targetWhat(o, what));
        else copyTargets(heap.f32, at, value as Targets, rows, size, this.targetWhat(o, what));
      }
    }
  }

  /**
   * @internal A data set checked once and copied into the backend's memory, for fit and evaluate:
   * x (as forward takes it) and y for the losses set now; throws before keeping anything.
   */
  stageData(x: unknown, y: unknown, whatX: string, whatY: string): StagedData {
    const data = this.inputsOf(x, whatX);
    const rows = this.checkInputs(data, whatX);
    this.checkIndexInputs(data, whatX);
    const plan = this.plan;
    const targets = this.targetsOf(y, whatY);
    // The labels decide the targets' widths, as copyTargetsIn will find them.
    const labels = this.losses.map((slot, o) => slot.kind === 'softmaxCrossEntropy' && targetsAreLabels(targets[o]));
    const inputBytes = plan.inputs.map((t) => alignFloats(rows * plan.tensors[t].size) * 4);
    const targetBytes = this.losses.map((slot, o) => (slot.targets ? alignFloats(rows * this.targetWidth(o, labels[o])) * 4 : 0));
    const heap = this.backend.heap;
    const block = heap.alloc(Math.max(64, [...inputBytes, ...targetBytes].reduce((sum, bytes) => sum + bytes, 0)));
    let cursor = block;
    const place = (bytes: number): number => {
      const at = cursor;
      cursor += bytes;
      return at;
    };
    const inputs = inputBytes.map(place);
    const targetAt = targetBytes.map(place);
    try {
      this.writeInputs(data, whatX, inputs);
      this.checkFiniteInputs(rows, whatX, undefined, inputs);
      this.copyTargetsIn(y, rows, whatY, targetAt);
      this.checkTargetValues(rows, whatY, targetAt);
    } catch (error) {
      heap.free(block);
      throw error;
    }
    return { block, rows, inputs, targets: targetAt, labels: this.losses.map((slot) => slot.labels) };
  }

  /**
   * @internal Copies samples order[start … start + count) (or start … start + count when order is
   * omitted) of a staged data set into the input and targets regions; sets the losses' labels.
   */
  gather(data: StagedData, start: number, count: number, order?: Int32Array): void {
    const plan = this.plan;
    const { kernels } = this.backend;
    const copyRows = (to: number, from: number, width: number): void => {
      const rowBytes = width * 4;
      if (!order) {
        kernels.copy(to, from + start * rowBytes, count * width);
        return;
      }
      if (width === 1) {
        // One value per sample (a label): moved in JS, cheaper than a kernel call each.
        const i32 = this.backend.heap.i32;
        for (let r = 0; r < count; r++) i32[(to >> 2) + r] = i32[(from >> 2) + order[start + r]];
        return;
      }
      for (let r = 0; r < count; r++) kernels.copy(to + r * rowBytes, from + order[start + r] * rowBytes, width);
    };
    for (let i = 0; i < plan.inputs.length; i++) copyRows(this.at.inputs[i], data.inputs[i], plan.tensors[plan.inputs[i]].size);
    for (let o = 0; o < this.losses.length; o++) {
      const slot = this.losses[o];
      if (!slot.targets) continue;
      slot.labels = data.labels[o];
      copyRows(this.at.targets[o], data.targets[o], this.targetWidth(o, slot.labels));
    }
  }

  /** @internal Gives a staged data set's memory back. */
  freeStaged(data: StagedData): void {
    this.backend.heap.free(data.block);
  }

  /** @internal Whether the next forward passes apply dropout. */
  useDropout(active: boolean): void {
    this.dropoutActive = active && this.drawsMasks;
  }

  // ---- Running the plan ----

  /** @internal Runs the nodes on `rows` samples of the input regions at `at`. */
  runForward(kernels: Kernels, at: Pointers, rows: number): void {
    const { nodes } = this.plan;
    const training = this.dropoutActive;
    for (let n = 0; n < nodes.length; n++) {
      const node = nodes[n];
      if (node.spec.aliasOf !== undefined) continue;
      const call = at.calls[n];
      call.rows = rows;
      call.training = training;
      node.op.forward(kernels, call);
    }
  }

  /**
   * @internal The weighted sum of the outputs' losses against the targets regions at `at`; writes
   * dL/d(output) for each output with a loss (scaled by its weight). A tape records them: the sum is then
   * lossTotal() after it ran.
   */
  runLosses(kernels: Kernels, at: Pointers, rows: number): number {
    // One output: its loss alone, so the value is boxed once on its way out, not summed.
    if (this.losses.length === 1) return this.outputLoss(kernels, at, rows, 0);
    let total = 0;
    for (let o = 0; o < this.losses.length; o++) {
      if (this.losses[o].kind !== undefined) total += this.outputLoss(kernels, at, rows, o);
    }
    return total;
  }

  // Output o's loss times its weight; its gradient is scaled by the weight too.
  private outputLoss(kernels: Kernels, at: Pointers, rows: number, o: number): number {
    const slot = this.losses[o];
    const tensor = this.plan.tensors[this.plan.outputs[o]];
    const cols = tensor.type.shape[tensor.type.shape.length - 1];
    const positions = rows * (tensor.size / cols);
    const value = runLoss(kernels, slot.kind!, at.outputGrads[o], at.outputs[o], at.targets[o], slot.labels, positions, cols, slot.delta);
    if (slot.weight === 1) return value;
    kernels.scale(at.outputGrads[o], positions * cols, slot.weight);
    return slot.weight * value;
  }

  /** The weighted sum of the losses the tape ran (in the order runLosses recorded them). */
  private lossTotal(tape: Tape): number {
    if (this.losses.length === 1) return this.losses[0].weight === 1 ? tape.lossValue(0) : this.losses[0].weight * tape.lossValue(0);
    let total = 0;
    let k = 0;
    for (let o = 0; o < this.losses.length; o++) {
      const slot = this.losses[o];
      if (slot.kind === undefined) continue;
      const value = tape.lossValue(k++);
      total += slot.weight === 1 ? value : slot.weight * value;
    }
    return total;
  }

  // Whether the backward is configured for this mode, these sources and the layers trainable now: a
  // check of its own, small enough for the JIT to inline into every step (inside the large function
  // that configures, it kept that function's unoptimized path, which allocates, on the step's path).
  private isConfigured(write: boolean, sources: readonly boolean[]): boolean {
    if (!this.configured || this.configuredWrite !== write) return false;
    for (let o = 0; o < sources.length; o++) if (this.configuredSources[o] !== sources[o]) return false;
    const layers = this.plan.layers;
    for (let l = 0; l < layers.length; l++) if (this.configuredTrainable[l] !== layers[l].trainable) return false;
    return true;
  }

  /**
   * Sets which nodes run backward and their gradient pointers and accumulate flags, for `write`
   * (a step's gradients are written: the first writer of each parameter's "=") or not (backward()
   * adds to what the gradients hold), with gradients flowing from the outputs in `sources`. Kept
   * until the trainable layers, the mode or the sources change (isConfigured).
   */
  private configureBackward(write: boolean, sources: readonly boolean[]): void {
    const plan = this.plan;
    const layers = plan.layers;
    this.configured = true;
    this.configuredWrite = write;
    for (let o = 0; o < sources.length; o++) this.configuredSources[o] = sources[o];
    for (let l = 0; l < layers.length; l++) this.configuredTrainable[l] = layers[l].trainable;
    const { tensors, nodes } = plan;
    const calls = this.at.calls;
    const trains = (node: number): boolean => {
      const layer = plan.layerIndexOf(nodes[node].layer);
      return layers[layer].trainable && plan.layerParameters[layer].length > 0;
    };
    // requires[t]: t's gradient is wanted — it is float32 and a model input's or downstream of one, or
    // of a trainable layer (the model inputs' own gradients are made on demand by inputGrad()).
    const requires = tensors.map((tensor) => tensor.type.dtype === 'float32' && tensor.producer < 0);
    for (const node of nodes) {
      requires[node.output] = tensors[node.output].type.dtype === 'float32' &&
        (trains(node.index) || node.inputs.some((t) => requires[t]));
    }
    // flows[t]: some gradient reaches t (an output with a loss, or a reader that writes t's gradient).
    const flows = tensors.map(() => false);
    const written = tensors.map(() => false);
    plan.outputs.forEach((t, o) => {
      if (sources[o]) {
        flows[tensors[t].storage] = true;
        written[tensors[t].storage] = true;
      }
    });
    const firstUse = layers.map(() => true);
    this.zeroed.length = 0;
    for (let n = nodes.length - 1; n >= 0; n--) {
      const node = nodes[n];
      const call = calls[n];
      const runs = flows[tensors[node.output].storage] && requires[node.output] && node.spec.aliasOf === undefined;
      this.runsBackward[n] = runs;
      const layer = plan.layerIndexOf(node.layer);
      const writesParams = runs && trains(n);
      for (let p = 0; p < call.paramGrads.length; p++) {
        call.paramGrads[p] = writesParams ? call.params[p] + this.sectionFloats * 4 : 0;
      }
      call.accumulateParams = !write || !firstUse[layer] ? 1 : 0;
      if (writesParams) firstUse[layer] = false;
      if (node.spec.aliasOf !== undefined) {
        // A view: the gradient its readers write is its input's own.
        if (flows[tensors[node.output].storage]) flows[tensors[node.inputs[0]].storage] = true;
        continue;
      }
      for (let i = 0; i < node.inputs.length; i++) {
        const t = node.inputs[i];
        const storage = tensors[t].storage;
        const wanted = runs && requires[t] && tensors[t].producer >= 0 && !(tensors[storage].producer < 0);
        call.inputGrads[i] = wanted ? this.at.base + this.layout.grads[t] : 0;
        call.accumulateInputs[i] = written[storage] ? 1 : 0;
        if (wanted) {
          written[storage] = true;
          flows[storage] = true;
        }
      }
    }
    // A step writes every parameter's gradient: those no backward reaches (a frozen layer's) are zeroed.
    if (write) {
      plan.parameters.forEach((parameter, p) => {
        const layer = parameter.layer;
        const reached = layers[layer].trainable && nodes.some((node, n) => this.runsBackward[n] && plan.layerIndexOf(node.layer) === layer);
        if (!reached) this.zeroed.push(p);
      });
    }
  }

  /**
   * @internal Backpropagates the output gradients at `at` (the outputs in `sources`). Parameter
   * gradients are written (write: a step's, which need no zeroing first) or added to.
   */
  runBackward(kernels: Kernels, at: Pointers, rows: number, write: boolean, sources: readonly boolean[]): void {
    if (!this.isConfigured(write, sources)) this.configureBackward(write, sources);
    const { nodes } = this.plan;
    if (write) {
      for (let z = 0; z < this.zeroed.length; z++) {
        const parameter = this.plan.parameters[this.zeroed[z]];
        kernels.fill(at.base + this.sectionFloats * 4 + parameter.start * 4, parameter.size, 0);
      }
    }
    for (let n = nodes.length - 1; n >= 0; n--) {
      if (!this.runsBackward[n]) continue;
      const call = at.calls[n];
      call.rows = rows;
      call.again = false;
      nodes[n].op.backward(kernels, call);
    }
  }

  /** @internal Runs the model on `rows` samples in the input regions (no gradients); returns the losses' weighted sum. */
  evaluateRows(rows: number): number {
    const kernels = this.backend.kernels;
    this.runForward(kernels, this.at, rows);
    return this.runLosses(kernels, this.at, rows);
  }

  /** Which outputs have a loss this step. */
  private lossSources(): boolean[] {
    const sources = this.outputsWithGradient;
    for (let o = 0; o < this.losses.length; o++) sources[o] = this.losses[o].kind !== undefined;
    return sources;
  }

  // ---- The PyTorch-style calls ----

  /**
   * Runs the model on x and returns its output (rows × the output's size) as a view into the model's
   * memory, valid until the next forward, predict or fit; several outputs come as an array or a
   * record, as the model was made.
   */
  forward(x: Inputs): Float32Array | Float32Array[] | Record<string, Float32Array> {
    this.checkAlive();
    const rows = this.stageInputs(x, 'x');
    this.useDropout(this.training);
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
    this.stageTargets(y, this.batch);
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
      sources = this.lossSources();
    }
    if (this.gradientsUsed && !this.warnedAccumulation) {
      this.warnedAccumulation = true;
      console.warn('simdprop: backward() adds to gradients an optimizer has already stepped with: call optimizer.zeroGrad() ' +
        'before each backward() unless you mean to accumulate (PyTorch behaves the same; this is the forgotten-zero_grad bug)');
    }
    this.runBackward(this.kernels, this.at, this.batch, false, sources);
    this.phase = 'backward';
    this.inputGradReady = false;
  }

  // Checks and writes the caller's output gradients; returns which outputs got one.
  private writeOutputGradients(dOut: unknown): boolean[] {
    const plan = this.plan;
    const count = plan.outputs.length;
    const given: unknown[] = count === 1 && !(isRecord(dOut) && this.outputNames[0] in dOut) ? [dOut] : this.perName(dOut, this.outputNames.map(() => undefined), this.outputNames, 'dOut', 'outputs');
    const sizes = plan.outputs.map((t) => plan.tensors[t].size);
    const what = (o: number): string => (count === 1 ? 'dOut' : `dOut.${this.outputNames[o]}`);
    given.forEach((value, o) => {
      if (value === undefined) return;
      const rows = matrixRows(value, sizes[o], what(o));
      if (rows !== this.batch) throw new SimdpropError('SHAPE', `${what(o)} must have ${this.batch} rows (the last forward's batch), got ${rows}`);
    });
    const sources = this.outputsWithGradient;
    const f32 = this.backend.heap.f32;
    try {
      given.forEach((value, o) => {
        sources[o] = value !== undefined;
        if (value === undefined) return;
        const at = this.at.outputGrads[o];
        const n = this.batch * sizes[o];
        writeMatrix(f32, at >> 2, value as Matrix, sizes[o], what(o));
        if (this.kernels.count_nonfinite(at, n) !== 0) throw nonFiniteError(f32, at >> 2, n, sizes[o], what(o));
      });
    } catch (error) {
      // The last loss's gradient was overwritten: backward() now needs a new loss() or a valid dOut.
      this.phase = 'forward';
      throw error;
    }
    if (!sources.some(Boolean)) throw new SimdpropError('OPTION', 'dOut gives no output a gradient');
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
      this.computeInputGradients();
      this.inputGradReady = true;
    }
    const start = this.at.inputGrads[i] >> 2;
    const length = this.batch * tensor.size;
    const f32 = this.backend.heap.f32;
    const view = this.inputGradViews[i];
    if (view && view.buffer === f32.buffer && view.byteOffset === start * 4 && view.length === length) return view;
    return (this.inputGradViews[i] = f32.subarray(start, start + length));
  }

  // The model inputs' gradients: each node that reads an input (or a view of it) runs its backward
  // again for that input alone, from what its backward left (no parameter gradients), the last
  // reader "=" and the others "+=", in the order of a backward.
  private computeInputGradients(): void {
    const { plan } = this;
    const kernels = this.backend.kernels;
    plan.inputs.forEach((t, i) => {
      const grad = this.at.inputGrads[i];
      if (grad === 0) return;
      let written = false;
      for (let n = plan.nodes.length - 1; n >= 0; n--) {
        const node = plan.nodes[n];
        if (!this.runsBackward[n] || !node.inputs.some((input) => plan.tensors[input].storage === t)) continue;
        const call = this.at.calls[n];
        const saved = { grads: [...call.paramGrads], inputs: [...call.inputGrads], accumulate: [...call.accumulateInputs] };
        call.paramGrads.fill(0);
        node.inputs.forEach((input, k) => {
          const reads = plan.tensors[input].storage === t;
          call.inputGrads[k] = reads ? grad : 0;
          call.accumulateInputs[k] = reads && written ? 1 : 0;
          if (reads) written = true;
        });
        call.again = true;
        try {
          node.op.backward(kernels, call);
        } finally {
          call.again = false;
          saved.grads.forEach((g, k) => (call.paramGrads[k] = g));
          saved.inputs.forEach((g, k) => (call.inputGrads[k] = g));
          saved.accumulate.forEach((a, k) => (call.accumulateInputs[k] = a));
        }
      }
      if (!written) kernels.fill(grad, this.batch * plan.tensors[t].size, 0);
    });
  }

  /** The model's output for x, as a new array (rows × the output's size; one per output for several); runs in chunks. */
  predict(x: Inputs): Float32Array | Float32Array[] | Record<string, Float32Array> {
    this.checkAlive();
    // A copy: each chunk's forward() sorts its inputs into the kept array.
    const data = [...this.inputsOf(x, 'x')];
    const rows = this.checkInputs(data, 'x');
    const plan = this.plan;
    const results = plan.outputs.map((t) => new Float32Array(rows * plan.tensors[t].size));
    const chunk = Math.max(this.capacity, Math.min(rows, 1024));
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
        const index = this.plan.layerNames.indexOf(selector);
        if (index < 0) throw new SimdpropError('OPTION', `${what}: the model has no layer named ${describe(selector)}`);
        return this.plan.layers[index];
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

  /** zeroGrad, forward, loss, backward and the optimizer's step in one call; returns the loss. */
  trainStep(x: Inputs, y: TargetsFor, options: TrainStepOptions): number {
    this.checkAlive();
    this.useLosses(options?.loss, options);
    const optimizer = options.optimizer;
    this.checkOptimizer(optimizer);
    const data = this.inputsOf(x, 'x');
    const rows = this.checkInputs(data, 'x');
    const tape = this.tapeFor(rows);
    if (tape === undefined) {
      this.copyInputs(data, rows, 'x');
      this.checkFiniteInputs(rows, 'x', undefined, this.at.inputs);
      this.stageTargets(y, rows);
      return this.trainStaged(rows, optimizer);
    }
    // The whole step in one crossing: the checks of x's and y's values are the tape's first records,
    // and when one fails nothing after it runs; the JS-side counters the step moved are put back.
    const { stepCount } = optimizer;
    const gradientsUsed = this.gradientsUsed;
    const stream = this.random.stream;
    this.copyInputs(data, rows, 'x');
    this.copyTargetsIn(y, rows, 'y', this.at.targets);
    this.useDropout(this.training);
    this.recording = tape;
    try {
      const replay = this.replay;
      const next = stepCount + 1;
      if (this.replays(tape, rows)) {
        // The same records as the last step's: run them again, with the state they left. The
        // update's too when it is the same optimizer, lr and step signature.
        this.gradientsUsed = false;
        this.batch = rows;
        this.phase = 'backward';
        this.inputGradReady = false;
        if (replay.total >= 0 && replay.optimizer === optimizer && Object.is(replay.lr, optimizer.lr) && replay.signature === optimizer.stepSignature(next)) {
          tape.resume(replay.total, replay.losses, replay.lossCount);
          optimizer.replayedStep();
        } else {
          tape.resume(replay.count, replay.losses, replay.lossCount);
          this.recordUpdate(tape, optimizer, next);
        }
      } else {
        tape.begin();
        const epoch = tape.epoch;
        this.checkFiniteInputs(rows, 'x', tape, this.at.inputs);
        for (let o = 0; o < this.losses.length; o++) {
          if (this.losses[o].targets && !this.losses[o].labels) this.guardTargets(tape, o, rows);
        }
        this.gradientsStaged(rows, 0);
        // Kept for the next step unless the tape ran part-way (its first records are gone) or dropout
        // draws new masks each step.
        if (tape.epoch === epoch && !this.dropoutActive) this.keepReplay(tape, rows);
        else replay.epoch = -1;
        this.recordUpdate(tape, optimizer, next);
      }
    } finally {
      this.recording = undefined;
    }
    tape.run();
    const value = this.lossTotal(tape);
    if (tape.stopped) {
      optimizer.stepCount = stepCount;
      this.gradientsUsed = gradientsUsed;
      this.random.stream = stream;
      this.batch = 0;
      this.phase = 'none';
      this.throwStoppedStep(tape, rows);
    }
    return value;
  }

  // A step the tape stopped at a guard: the guards are x's (one per float input) then y's (one per
  // output with float targets); the JS checks name the offender.
  private throwStoppedStep(tape: Tape, rows: number): never {
    const plan = this.plan;
    const f32 = this.backend.heap.f32;
    let guard = 0;
    for (let i = 0; i < plan.inputs.length; i++) {
      const tensor = plan.tensors[plan.inputs[i]];
      if (tensor.type.dtype !== 'float32') continue;
      if (tape.stoppedAt === guard++) throw nonFiniteError(f32, this.at.inputs[i] >> 2, rows * tensor.size, tensor.size, this.inputWhat(i, 'x'));
    }
    for (let o = 0; o < this.losses.length; o++) {
      const slot = this.losses[o];
      if (!slot.targets || slot.labels) continue;
      const size = plan.tensors[plan.outputs[o]].size;
      checkTargetValues(f32, this.at.targets[o] >> 2, rows * size, size, targetsAreProbabilities(slot.kind!), this.targetWhat(o));
    }
    throw new SimdpropError('NOT_FINITE', 'a guard stopped the step');
  }

  // Whether the tape still holds this model's last step's records up to the update, recorded for a
  // step like this one: same tape epoch (nobody recorded since), block and layout, batch, losses and
  // targets, the same layers trainable, and no dropout.
  private replays(tape: Tape, rows: number): boolean {
    const replay = this.replay;
    if (replay.epoch !== tape.epoch || replay.block !== this.cell.block || replay.layout !== this.layoutVersion ||
      replay.rows !== rows || this.dropoutActive) return false;
    for (let o = 0; o < this.losses.length; o++) {
      const slot = this.losses[o];
      if (replay.kinds[o] !== slot.kind || replay.labels[o] !== slot.labels || !Object.is(replay.deltas[o], slot.delta) ||
        !Object.is(replay.weights[o], slot.weight)) return false;
    }
    const layers = this.plan.layers;
    for (let i = 0; i < layers.length; i++) if (replay.trainable[i] !== layers[i].trainable) return false;
    return true;
  }

  // Records the update (the step's `step`-th) after the kept records, and keeps it with them unless
  // the tape ran part-way meanwhile.
  private recordUpdate(tape: Tape, optimizer: StepOptimizer, step: number): void {
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

  private keepReplay(tape: Tape, rows: number): void {
    const replay = this.replay;
    replay.total = -1;
    replay.epoch = tape.epoch;
    replay.count = tape.length;
    replay.lossCount = tape.pendingLosses;
    for (let k = 0; k < replay.lossCount; k++) replay.losses[k] = tape.pendingLoss(k);
    replay.block = this.cell.block;
    replay.layout = this.layoutVersion;
    replay.rows = rows;
    for (let o = 0; o < this.losses.length; o++) {
      const slot = this.losses[o];
      replay.kinds[o] = slot.kind;
      replay.labels[o] = slot.labels;
      replay.deltas[o] = slot.delta;
      replay.weights[o] = slot.weight;
    }
    const layers = this.plan.layers;
    for (let i = 0; i < layers.length; i++) replay.trainable[i] = layers[i].trainable;
  }

  /**
   * @internal One step on rows already in the input and targets regions, with the losses set; clipNorm > 0
   * clips the gradients first.
   */
  trainStaged(rows: number, optimizer: StepOptimizer, clipNorm = 0): number {
    const tape = this.tapeFor(rows);
    if (tape !== undefined) {
      tape.begin();
      this.recording = tape;
      try {
        this.gradientsStaged(rows, clipNorm);
        optimizer.step();
      } finally {
        this.recording = undefined;
      }
      tape.run();
      return this.lossTotal(tape);
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
        this.gradientsStaged(rows, clipNorm);
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
      value = this.lossTotal(tape);
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
    this.useDropout(this.training);
    this.runForward(kernels, this.at, rows);
    const value = this.runLosses(kernels, this.at, rows);
    // zeroGrad without a pass over the gradients: the backward writes every trainable parameter's
    // gradient, and the rest are zeroed. The alignment gaps between them stay 0 from the block's start.
    this.runBackward(kernels, this.at, rows, true, this.lossSources());
    if (clipNorm > 0) clipGradNorm(this, clipNorm);
    this.batch = rows;
    this.phase = 'backward';
    this.inputGradReady = false;
    return value;
  }

  /** @internal Output o's loss this step (undefined: none) and whether its targets are class labels. */
  lossOf(o: number): { readonly kind: LossName | undefined; readonly labels: boolean } {
    return this.losses[o];
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

  /** @internal Where input i is staged. */
  inputPointer(i = 0): number {
    return this.at.inputs[i];
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
      if (kernels.count_nonfinite(this.at.base + this.layout.values[node.output], this.batch * tensor.size) > 0) return this.describeNode(node.index);
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
    this.ensureCapacity(rows);
  }

  /** @internal Samples the activation regions hold now. */
  get rowCapacity(): number {
    return this.capacity;
  }

  /** @internal Marks the activations as not from a forward() of the caller's (after evaluation runs). */
  forgetActivations(): void {
    this.batch = 0;
    this.phase = 'none';
  }

  /** @internal Bytes of the block. */
  get blockBytes(): number {
    return this.backend.heap.blockBytes(this.cell.block);
  }

  /** @internal The block's layout now: samples, state slots. */
  get layoutInfo(): { capacity: number; stateSlots: number } {
    return { capacity: this.capacity, stateSlots: this.stateSlots };
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

  /** @internal The layer of this name (given or generated), or undefined. */
  layerNamed(name: string): PlannedLayer | undefined {
    const index = this.plan.layerNames.indexOf(name);
    return index < 0 ? undefined : this.plan.layers[index];
  }

  /** @internal How errors about layer indices name the layers. */
  get layersLabel(): string {
    return 'layers';
  }

  /** @internal The graph as its file records it: settings of every layer, and which reads which. */
  describeGraph(): GraphRecord {
    const plan = this.plan;
    const index = new Map<SymbolicTensor, number>();
    plan.symbols.forEach((symbol, i) => index.set(symbol, i));
    const nodes = plan.symbols.filter((symbol) => symbol.producer !== undefined).map((symbol) => ({
      layer: plan.layerIndexOf(symbol.producer!.op),
      inputs: symbol.producer!.inputs.map((tensor) => index.get(tensor)!),
    }));
    return {
      inputs: plan.inputs.map((t, i) => ({ name: this.inputNames[i], shape: [...plan.tensors[t].type.shape], dtype: plan.tensors[t].type.dtype })),
      layers: plan.layers.map((layer) => {
        const config = (layer as { config?: () => Record<string, unknown> }).config?.();
        if (config === undefined) throw new SimdpropError('FILE', `${layer.label} cannot be saved: its kind gives no settings to remake it from`);
        return { kind: layer.kind, config };
      }),
      nodes,
      outputs: plan.outputs.map((t, o) => ({ tensor: index.get(plan.tensors[t].symbol)!, name: this.outputNames[o] })),
      inputForm: this.inputForm,
      outputForm: this.outputForm,
    };
  }

  /** @internal The architecture as its file records it: saved optimizer state must be for the same one. */
  get architecture(): string {
    return JSON.stringify(this.describeGraph());
  }

  /** @internal The PyTorch name of parameter p (Sequential's are nn.Sequential's). */
  protected torchName(p: number): string {
    return this.plan.parameters[p].name;
  }

  /** Every parameter and buffer as PyTorch keeps it: name, shape and values (in PyTorch's layout). */
  stateDict(): NamedTensor[] {
    this.checkAlive();
    const plan = this.plan;
    const f32 = this.backend.heap.f32;
    const params = this.paramsPointer >> 2;
    const buffers = this.buffersPointer >> 2;
    return [
      ...plan.parameters.map((parameter, p) => ({
        name: this.torchName(p), shape: parameter.torch?.shape ?? parameter.shape,
        data: toTorch(f32.subarray(params + parameter.start, params + parameter.start + parameter.size), parameter.shape, parameter.torch),
      })),
      ...plan.buffers.map((buffer) => ({
        name: buffer.name, shape: buffer.torch?.shape ?? buffer.shape,
        data: toTorch(f32.subarray(buffers + buffer.start, buffers + buffer.start + buffer.size), buffer.shape, buffer.torch),
      })),
    ];
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
    return writeGraphFile(this.describeGraph(), this.stateDict(), { seed: this.random.seed, stream: this.random.stream }, options.optimizer?.stateForSaving());
  }

  /**
   * A model from bytes that save() wrote: the same graph, bit-identical parameters and buffers, and the
   * seed and dropout stream (so training goes on drawing the masks it would have). `layers` remakes
   * custom layers by the kind they were saved under.
   */
  static load(bytes: Uint8Array, options: { backend?: BackendName; layers?: LayerFactories } = {}): Model {
    const { graph, random, file } = readGraphFile(bytes);
    const layers = graph.layers.map((record, i) => layerFromConfig(record.kind, record.config, `the file's layer ${i}`, options.layers));
    const tensors: SymbolicTensor[] = graph.inputs.map((record) => input(record.shape, { dtype: record.dtype, name: record.name }));
    try {
      for (const node of graph.nodes) tensors.push(layers[node.layer].apply(...node.inputs.map((t) => tensors[t])));
    } catch (error) {
      if (error instanceof SimdpropError) throw new SimdpropError('FILE', `the file's graph does not hold together: ${error.message.replace(/^simdprop: /, '')}`);
      throw error;
    }
    const pick = (form: GraphRecord['inputForm'], list: SymbolicTensor[], names: string[]): Tensors =>
      form === 'single' ? list[0] : form === 'array' ? list : Object.fromEntries(names.map((name, i) => [name, list[i]]));
    const inputs = pick(graph.inputForm, tensors.slice(0, graph.inputs.length), graph.inputs.map((record) => record.name));
    const outputs = pick(graph.outputForm, graph.outputs.map((output) => tensors[output.tensor]), graph.outputs.map((output) => output.name));
    // Every tensor is read and checked before the model is made: a bad file allocates no model.
    const probe = new Plan(
      graph.inputForm === 'single' ? [inputs as SymbolicTensor] : Object.values(inputs),
      graph.outputForm === 'single' ? [outputs as SymbolicTensor] : Object.values(outputs),
      graph.outputs.map((output) => output.name),
    );
    const values = Model.readState(probe, file, (p) => probe.parameters[p].name, true, true).values;
    const model = new Model({ inputs, outputs }, { backend: options.backend, seed: random.seed });
    model.writeState(values);
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
    const strict = options.strict ?? true;
    const file = parseSafetensors(bytes);
    const state = Model.readState(this.plan, file, (p) => this.torchName(p), strict, false);
    this.writeState(state.values);
    return { missingKeys: state.missing, unexpectedKeys: state.unexpected };
  }

  // Reads every parameter and buffer of `plan` from the file (in simdprop's layout), checking names,
  // dtypes and shapes; `strict` refuses missing and unexpected tensors. Optimizer slots are simdprop's.
  private static readState(
    plan: Plan, file: ReturnType<typeof parseSafetensors>, nameOf: (p: number) => string, strict: boolean, simdpropFile: boolean,
  ): { values: (Float32Array | undefined)[]; missing: string[]; unexpected: string[] } {
    const wanted = [
      ...plan.parameters.map((parameter, p) => ({ name: nameOf(p), shape: parameter.shape, torch: parameter.torch })),
      ...plan.buffers.map((buffer) => ({ name: buffer.name, shape: buffer.shape, torch: buffer.torch })),
    ];
    const names = new Set(wanted.map((w) => w.name));
    const missing = wanted.filter((w) => !file.tensors.has(w.name)).map((w) => w.name);
    const unexpected = [...file.tensors.keys()].filter((name) => !names.has(name) && !(simdpropFile && name.startsWith('optimizer.')));
    if (strict && (missing.length > 0 || unexpected.length > 0)) {
      const parts = [
        ...(missing.length > 0 ? [`missing keys: ${missing.join(', ')}`] : []),
        ...(unexpected.length > 0 ? [`unexpected keys: ${unexpected.join(', ')}`] : []),
      ];
      throw new SimdpropError('FILE', `the state_dict does not fit the model (${parts.join('; ')}); the model's tensors are ${[...names].join(', ')}` +
        (simdpropFile ? '' : ' (pass { strict: false } to load what matches)'));
    }
    const shapes: string[] = [];
    const values = wanted.map((w) => {
      const entry = file.tensors.get(w.name);
      if (entry === undefined) return undefined;
      const torchShape = w.torch?.shape ?? w.shape;
      if (entry.shape.length !== torchShape.length || entry.shape.some((d, i) => d !== torchShape[i])) {
        shapes.push(`${w.name} is [${entry.shape.join(', ')}], the model's is [${torchShape.join(', ')}]`);
        return undefined;
      }
      return fromTorch(readTensor(file, w.name, torchShape), w.shape, w.torch);
    });
    if (shapes.length > 0) throw new SimdpropError('FILE', `the state_dict's shapes do not fit the model: ${shapes.join('; ')}`);
    return { values, missing, unexpected };
  }

  // Sets the parameters and buffers (in readState's order) that have a value.
  private writeState(values: readonly (Float32Array | undefined)[]): void {
    const plan = this.plan;
    const f32 = this.backend.heap.f32;
    plan.parameters.forEach((parameter, p) => {
      if (values[p] !== undefined) f32.set(values[p]!, (this.paramsPointer >> 2) + parameter.start);
    });
    plan.buffers.forEach((buffer, b) => {
      const value = values[plan.parameters.length + b];
      if (value !== undefined) f32.set(value, (this.buffersPointer >> 2) + buffer.start);
    });
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
        const count = plan.layerParameters[l].reduce((sum, p) => sum + plan.parameters[p].size, 0);
        const shape = k === node.layers.length - 1 ? formatBatchShape(plan.tensors[node.output].type.shape) : '';
        rows.push([plan.layerNames[l], layer.kind, shape, count.toLocaleString('en-US'), count === 0 ? '' : layer.trainable ? 'yes' : 'frozen']);
      });
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
    const line = (row: string[]): string => row.map((cell, c) => (c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd();
    const trainable = plan.parameters.reduce((sum, p) => sum + (plan.layers[p.layer].trainable ? p.size : 0), 0);
    return [
      line(rows[0]), '-'.repeat(line(rows[0]).length), ...rows.slice(1).map(line), '',
      `parameters: ${this.parameterCount.toLocaleString('en-US')} (${trainable.toLocaleString('en-US')} trainable)`,
      this.memoryLine(),
    ].join('\n');
  }

  /** @internal The summary's last line: the bytes the model holds and what they are for. */
  protected memoryLine(): string {
    return `memory: ${this.blockBytes.toLocaleString('en-US')} bytes on ${this.backend.description} ` +
      `(params, grads, ${this.stateSlots} optimizer state slot${this.stateSlots === 1 ? '' : 's'}, activations for ${this.capacity} rows)`;
  }

  /** Returns the model's memory to its backend; any later call throws. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    blocks?.unregister(this);
    this.backend.heap.free(this.cell.block);
  }
}

/** A tensor in PyTorch's layout: a copy, transposed where PyTorch keeps the transpose. */
function toTorch(values: Float32Array, shape: readonly number[], torch: TorchLayout | undefined): Float32Array {
  if (!torch?.transposed) return values.slice();
  return transpose(values, shape[0], shape[1]);
}

/** A tensor read in PyTorch's layout, in simdprop's. */
function fromTorch(values: Float32Array, shape: readonly number[], torch: TorchLayout | undefined): Float32Array {
  if (!torch?.transposed) return values;
  return transpose(values, shape[1], shape[0]);
}

/** [rows × cols] → [cols × rows]. */
function transpose(values: Float32Array, rows: number, cols: number): Float32Array {
  const result = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) result[c * rows + r] = values[r * cols + c];
  return result;
}

/** A batch shape for summaries: [batch, ...]. */
function formatBatchShape(shape: readonly number[]): string {
  return `[batch, ${shape.join(', ')}]`;
}

function fillInitial(f32: Float32Array, start: number, size: number, init: import('./op.js').Initializer, rng: Rng): void {
  switch (init.kind) {
    case 'zeros': f32.fill(0, start, start + size); return;
    case 'ones': f32.fill(1, start, start + size); return;
    case 'normal': for (let j = 0; j < size; j++) f32[start + j] = rng.normal() * init.std; return;
    case 'uniform': for (let j = 0; j < size; j++) f32[start + j] = (2 * rng.uniform() - 1) * init.limit;
  }
}

/** Rows of int32 indices: an Int32Array or number[] of rows × size, or arrays of `size` integers. */
function indexRows(x: unknown, size: number, what: string): number {
  if (x instanceof Int32Array || (Array.isArray(x) && (x.length === 0 || typeof x[0] === 'number'))) {
    const length = (x as ArrayLike<number>).length;
    if (length % size !== 0) {
      throw new SimdpropError('SHAPE', `${what} must hold whole rows of ${size} indices: got ${length} values, which is not a multiple of ${size}`);
    }
    if (length === 0) throw new SimdpropError('EMPTY_BATCH', `${what} is an empty batch: it must have at least one row`);
    return length / size;
  }
  if (Array.isArray(x)) {
    x.forEach((row: unknown, r) => {
      if (!Array.isArray(row) && !(row instanceof Int32Array)) throw new SimdpropError('TYPE', `${what}[${r}] must be an array of ${size} indices, got ${describe(row)}`);
      if (row.length !== size) throw new SimdpropError('SHAPE', `${what}[${r}] must have ${size} indices, got ${row.length}`);
    });
    return x.length;
  }
  throw new SimdpropError('TYPE', `${what} is an int32 input: pass an Int32Array (rows × ${size}) or arrays of integers, got ${describe(x)}`);
}

/** Checks every index is an integer in [0, bound) (any int32 when no embedding bounds it). */
function checkIndices(x: Int32Array | number[] | number[][], bound: number, what: string): void {
  const limit = Number.isFinite(bound) ? bound : 2 ** 31;
  const check = (value: unknown, where: string): void => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value >= limit) {
      throw new SimdpropError('LABEL', `${what}${where} is ${describe(value)}: indices must be integers in [0, ${limit - 1}]`);
    }
  };
  if (x.length > 0 && Array.isArray(x[0])) (x as number[][]).forEach((row, r) => row.forEach((value, c) => check(value, `[${r}][${c}]`)));
  else for (let i = 0; i < x.length; i++) check((x as ArrayLike<number>)[i], `[${i}]`);
}

function writeIndices(i32: Int32Array, at: number, x: Int32Array | number[] | number[][], size: number): void {
  if (x instanceof Int32Array) i32.set(x, at);
  else if (x.length > 0 && Array.isArray(x[0])) (x as number[][]).forEach((row, r) => i32.set(row, at + r * size));
  else i32.set(x as number[], at);
}

/** Rows [start, end) of one input's batch, as the same kind of value. */
function sliceRows(value: InputData, start: number, end: number, size: number): InputData {
  if (value instanceof Float32Array || value instanceof Int32Array) return value.subarray(start * size, end * size);
  const rows = value as unknown[];
  if (rows.length > 0 && typeof rows[0] === 'number') return (rows as number[]).slice(start * size, end * size);
  return rows.slice(start, end) as InputData;
}

/** Checks class labels (type, count, integers in range) without copying them. */
function checkLabels(y: Int32Array | number[], count: number, classes: number, what: string, positions: number): void {
  if (y.length !== count) {
    const per = positions === 1 ? 'one class label per row' : `${positions} class labels per row (one per position)`;
    throw new SimdpropError('SHAPE', `${what} must hold ${per}: expected ${count}, got ${y.length}`);
  }
  for (let r = 0; r < count; r++) {
    const label = y[r];
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= classes) {
      throw new SimdpropError('LABEL', `${what}[${r}] is ${describe(label)}: class labels must be integers in [0, ${classes - 1}]`);
    }
  }
}

/** copyTargets' shape checks without the copy: a bad batch changes nothing. */
function checkTargetShape(y: Targets, rows: number, width: number, what: string): void {
  if ((y instanceof Int32Array || (Array.isArray(y) && typeof y[0] === 'number')) && width === 1) {
    const flat = y as ArrayLike<number>;
    if (flat.length !== rows) throw new SimdpropError('SHAPE', `${what} must hold ${rows} targets, got ${flat.length}`);
    return;
  }
  const got = matrixRows(y, width, what);
  if (got !== rows) throw new SimdpropError('SHAPE', `${what} must have ${rows} rows (one per input row), got ${got}`);
}

export { alignFloats };

// A model's inputs and targets on their way in: sorted into the model's order (one value, an array,
// or a record by name), checked — types, shapes, one row per sample in each, indices in range, labels,
// targets — before anything is written, then copied into the block, or into a data set staged once
// for fit and evaluate and gathered batch by batch. Errors name the input or output ('x.tokens').
import type { Backend } from '../backend/backend.js';
import type { Tape } from '../backend/wasm/tape.js';
import {
  checkTargetValues, copyTargets, matrixRows, nonFiniteError, targetsAreLabels, writeLabels, writeMatrix,
  type Matrix, type Targets,
} from '../data.js';
import { SimdpropError, describe } from '../errors.js';
import { targetsAreProbabilities } from '../losses.js';
import { isRecord, type OutputLoss } from './objective.js';
import { alignFloats, type Plan } from './plan.js';

/** A batch for one input: rows of floats (Float32Array rows × size, or arrays of rows), or int32 indices. */
export type InputData = Matrix | Int32Array | number[];

/** A data set staged in the backend's memory (see Staging.stage). */
export interface StagedData {
  readonly block: number;
  readonly rows: number;
  /** Where each input's samples and each output's targets start (0: an output without targets). */
  readonly inputs: readonly number[];
  readonly targets: readonly number[];
  /** Whether each output's targets are class labels. */
  readonly labels: readonly boolean[];
}

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

export class Staging {
  /** Each input's values per sample, whether it holds int32 indices, and its lowest bound over the embeddings that read it. */
  private readonly inputSizes: number[];
  /** Each input's per-sample shape, for messages. */
  private readonly inputShapes: (readonly number[])[];
  private readonly inputIndices: boolean[];
  /** Whether the model has one float input and one output: the calls Replay.rememberCall may keep. */
  readonly plain: boolean;
  private readonly indexBounds: number[];
  /** Each output's values per sample, classes (its last axis) and positions (the rest) per sample. */
  private readonly outputSizes: number[];
  private readonly outputClasses: number[];
  private readonly outputPositions: number[];
  /** Kept arrays a call's inputs and targets are sorted into, and how errors name them ('x.tokens', 'dOut.logits'). */
  private readonly inputData: InputData[];
  private readonly targetData: unknown[];
  private readonly inputLabels: string[];
  private readonly targetLabels: string[];
  private readonly gradientLabels: string[];

  constructor(
    private readonly plan: Plan,
    private readonly backend: Backend,
    private readonly losses: readonly OutputLoss[],
    private readonly inputNames: readonly string[],
    private readonly outputNames: readonly string[],
  ) {
    this.inputSizes = plan.inputs.map((t) => plan.tensors[t].size);
    this.inputShapes = plan.inputs.map((t) => plan.tensors[t].type.shape);
    this.inputIndices = plan.inputs.map((t) => plan.tensors[t].type.dtype === 'int32');
    this.plain = plan.inputs.length === 1 && !this.inputIndices[0] && plan.outputs.length === 1;
    this.indexBounds = plan.inputs.map((t) => plan.tensors[t].consumers.reduce(
      (bound, n) => Math.min(bound, plan.nodes[n].spec.indexBound ?? Infinity), Infinity));
    this.outputSizes = plan.outputs.map((t) => plan.tensors[t].size);
    this.outputClasses = plan.outputs.map((t) => plan.tensors[t].type.shape[plan.tensors[t].type.shape.length - 1]);
    this.outputPositions = plan.outputs.map((_, o) => this.outputSizes[o] / this.outputClasses[o]);
    this.inputData = plan.inputs.map(() => undefined as unknown as InputData);
    this.targetData = plan.outputs.map(() => undefined);
    this.inputLabels = inputNames.map((name) => `x.${name}`);
    this.targetLabels = outputNames.map((name) => `y.${name}`);
    this.gradientLabels = outputNames.map((name) => `dOut.${name}`);
  }

  /** The batch for each input, in the model's order, from one value, an array or a record (into a kept array). */
  inputsOf(x: unknown, what: string): InputData[] {
    const data = this.inputData;
    if (data.length === 1 && (x instanceof Float32Array || !(isRecord(x) && this.inputNames[0] in x))) {
      data[0] = x as InputData;
      return data;
    }
    return perName(x, data, this.inputNames, what, 'inputs');
  }

  /** One value per output, in order, from one value, an array or a record (into a kept array): targets, or dOut. */
  perOutput(y: unknown, what: string): unknown[] {
    const targets = this.targetData;
    if (targets.length === 1 && (ArrayBuffer.isView(y) || !(isRecord(y) && this.outputNames[0] in y))) {
      targets[0] = y;
      return targets;
    }
    return perName(y, targets, this.outputNames, what, 'outputs');
  }

  /** How errors name input i's data: 'x' for a one-input model, else x.name (made once for 'x'). */
  inputWhat(i: number, what: string): string {
    if (this.plan.inputs.length === 1) return what;
    return what === 'x' ? this.inputLabels[i] : `${what}.${this.inputNames[i]}`;
  }

  targetWhat(o: number, what = 'y'): string {
    if (this.plan.outputs.length === 1) return what;
    if (what === 'y') return this.targetLabels[o];
    return what === 'dOut' ? this.gradientLabels[o] : `${what}.${this.outputNames[o]}`;
  }

  /** Checks the batches' types and shapes and the same row count in each; returns the rows. */
  checkInputs(data: InputData[], what: string): number {
    let rows = -1;
    for (let i = 0; i < data.length; i++) {
      const name = this.inputWhat(i, what);
      const count = this.inputIndices[i] ? indexRows(data[i], this.inputSizes[i], name) : matrixRows(data[i], this.inputSizes[i], name, this.inputShapes[i]);
      if (rows >= 0 && count !== rows) {
        throw new SimdpropError('SHAPE', `${name} has ${count} rows, but ${this.inputWhat(0, what)} has ${rows}: every input needs one row per sample`);
      }
      rows = count;
    }
    return rows;
  }

  /** Every index of an int32 input must be an integer in [0, the embedding's rows): a LABEL error naming it. */
  checkIndexInputs(data: InputData[], what: string): void {
    for (let i = 0; i < data.length; i++) {
      if (this.inputIndices[i]) checkIndices(data[i] as Int32Array | number[] | number[][], this.indexBounds[i], this.inputWhat(i, what));
    }
  }

  /** Writes each input's checked batch at `destinations[i]`. */
  writeInputs(data: InputData[], what: string, destinations: readonly number[]): void {
    const heap = this.backend.heap;
    for (let i = 0; i < data.length; i++) {
      const at = destinations[i] >> 2;
      if (this.inputIndices[i]) writeIndices(heap.i32, at, data[i] as Int32Array | number[] | number[][], this.inputSizes[i]);
      else writeMatrix(heap.f32, at, data[i] as Matrix, this.inputSizes[i], this.inputWhat(i, what));
    }
  }

  /**
   * A repeated plain call's batches (Replay.repeats: Float32Arrays of the lengths the general checks
   * passed) into the input and targets regions; the targets are floats, not labels, as copyTargets finds.
   */
  copyPlain(x: Float32Array, y: Float32Array, input: number, targets: number): void {
    const f32 = this.backend.heap.f32;
    f32.set(x, input >> 2);
    f32.set(y, targets >> 2);
    this.losses[0].labels = false;
  }

  /** The float inputs at `at` must be finite: checked now (with the kernels given), or recorded as the tape's guards. */
  checkFiniteInputs(rows: number, what: string, at: readonly number[], guard: Tape | undefined): void {
    const kernels = this.backend.kernels;
    for (let i = 0; i < at.length; i++) {
      if (this.inputIndices[i]) continue;
      const n = rows * this.inputSizes[i];
      if (guard !== undefined) guard.guardFinite(at[i], n);
      else if (kernels.count_nonfinite(at[i], n) !== 0) throw nonFiniteError(this.backend.heap.f32, at[i] >> 2, n, this.inputSizes[i], this.inputWhat(i, what));
    }
  }

  /**
   * The type and shape checks of the targets (and the labels' range) and the copy to `destinations`;
   * the values of float targets are not checked. Sets each loss's `labels`.
   */
  copyTargets(y: unknown, rows: number, what: string, destinations: readonly number[]): void {
    const heap = this.backend.heap;
    const targets = this.perOutput(y, what);
    const losses = this.losses as OutputLoss[];
    // Every check before any copy (a bad second output's targets leave the first's region as it was);
    // with one output the copy checks as it goes.
    for (let pass = losses.length === 1 ? 1 : 0; pass < 2; pass++) {
      for (let o = 0; o < losses.length; o++) {
        const slot = losses[o];
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

  /** The float targets at `at` must be finite (and in [0, 1] for the losses that take probabilities). */
  checkTargetValues(rows: number, what: string, at: readonly number[]): void {
    for (let o = 0; o < this.losses.length; o++) {
      const slot = this.losses[o];
      if (!slot.targets || slot.labels) continue;
      const size = this.outputSizes[o];
      checkTargetValues(this.backend.heap.f32, at[o] >> 2, rows * size, size, targetsAreProbabilities(slot.kind!), this.targetWhat(o, what));
    }
  }

  /** Records the checks of the float targets at `at` as guards on the tape. */
  guardTargets(tape: Tape, rows: number, at: readonly number[]): void {
    for (let o = 0; o < this.losses.length; o++) {
      const slot = this.losses[o];
      if (!slot.targets || slot.labels) continue;
      const n = rows * this.outputSizes[o];
      // The largest float32 bounds: ±Infinity lie outside, as the JS check has it.
      if (targetsAreProbabilities(slot.kind!)) tape.guardInside(at[o], n, 0, 1);
      else tape.guardInside(at[o], n, -FLOAT32_MAX, FLOAT32_MAX);
    }
  }

  /**
   * A step the tape stopped at a guard: the guards were the float inputs' (checkFiniteInputs) and then
   * the float targets' (guardTargets), in order; the JS checks say which, naming the offender.
   */
  stoppedError(tape: Tape, rows: number, inputs: readonly number[], targets: readonly number[]): SimdpropError {
    const f32 = this.backend.heap.f32;
    let guard = 0;
    for (let i = 0; i < inputs.length; i++) {
      if (this.inputIndices[i]) continue;
      if (tape.stoppedAt === guard++) return nonFiniteError(f32, inputs[i] >> 2, rows * this.inputSizes[i], this.inputSizes[i], this.inputWhat(i, 'x'));
    }
    try {
      this.checkTargetValues(rows, 'y', targets);
    } catch (error) {
      if (error instanceof SimdpropError) return error;
      throw error;
    }
    return new SimdpropError('NOT_FINITE', 'a guard stopped the step');
  }

  /** Targets of output o per sample: class labels (one per position) or values (one per output value). */
  private targetWidth(o: number, labels: boolean): number {
    return labels ? this.outputPositions[o] : this.outputSizes[o];
  }

  /**
   * A data set checked once and copied into the backend's memory, for fit and evaluate: x (as forward
   * takes it) and y for the losses set now; throws before keeping anything.
   */
  stage(x: unknown, y: unknown, whatX: string, whatY: string): StagedData {
    const data = this.inputsOf(x, whatX);
    const rows = this.checkInputs(data, whatX);
    this.checkIndexInputs(data, whatX);
    const targets = this.perOutput(y, whatY);
    // The labels decide the targets' widths, as copyTargets will find them.
    const labels = this.losses.map((slot, o) => slot.kind === 'softmaxCrossEntropy' && targetsAreLabels(targets[o]));
    const inputBytes = this.inputSizes.map((size) => alignFloats(rows * size) * 4);
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
      this.checkFiniteInputs(rows, whatX, inputs, undefined);
      this.copyTargets(y, rows, whatY, targetAt);
      this.checkTargetValues(rows, whatY, targetAt);
    } catch (error) {
      heap.free(block);
      throw error;
    }
    return { block, rows, inputs, targets: targetAt, labels: this.losses.map((slot) => slot.labels) };
  }

  /**
   * Copies samples order[start … start + count) (or start … start + count when order is 0) of a staged
   * data set to the input and targets regions at `inputs` and `targets`; sets the losses' labels.
   * `order` is the byte offset of int32 sample indices in the backend's memory.
   */
  gather(data: StagedData, start: number, count: number, order: number, inputs: readonly number[], targets: readonly number[]): void {
    for (let i = 0; i < inputs.length; i++) this.copyRows(inputs[i], data.inputs[i], this.inputSizes[i], start, count, order);
    const losses = this.losses as OutputLoss[];
    for (let o = 0; o < losses.length; o++) {
      const slot = losses[o];
      if (!slot.targets) continue;
      slot.labels = data.labels[o];
      this.copyRows(targets[o], data.targets[o], this.targetWidth(o, slot.labels), start, count, order);
    }
  }

  // Rows order[start …] (or start … when order is 0) of `width` values from `from` to `to`: one call
  // either way, the shuffled rows gathered by embedding_forward (a table's rows by index), where a
  // call a row cost more than the step of a small model.
  private copyRows(to: number, from: number, width: number, start: number, count: number, order: number): void {
    const { kernels } = this.backend;
    if (order === 0) kernels.copy(to, from + start * width * 4, count * width);
    else kernels.embedding_forward(to, order + start * 4, from, count, width);
  }

  /** Gives a staged data set's memory back. */
  free(data: StagedData): void {
    this.backend.heap.free(data.block);
  }
}

// Fills `into` with one value per name from an array of them or a record by name.
function perName<T>(value: unknown, into: T[], names: readonly string[], what: string, kind: string): T[] {
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

/** Checks every index is an integer in [0, bound) (any int32 when no embedding bounds it); the message is made only for a bad one. */
function checkIndices(x: Int32Array | number[] | number[][], bound: number, what: string): void {
  const limit = Number.isFinite(bound) ? bound : 2 ** 31;
  if (x instanceof Int32Array) {
    for (let i = 0; i < x.length; i++) if (x[i] < 0 || x[i] >= limit) badIndex(x[i], limit, what, i, -1);
    return;
  }
  if (x.length > 0 && Array.isArray(x[0])) {
    const rows = x as number[][];
    for (let r = 0; r < rows.length; r++) {
      for (let c = 0; c < rows[r].length; c++) if (!isIndex(rows[r][c], limit)) badIndex(rows[r][c], limit, what, r, c);
    }
    return;
  }
  const flat = x as number[];
  for (let i = 0; i < flat.length; i++) if (!isIndex(flat[i], limit)) badIndex(flat[i], limit, what, i, -1);
}

function isIndex(value: unknown, limit: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < limit;
}

function badIndex(value: unknown, limit: number, what: string, row: number, column: number): never {
  const where = column < 0 ? `[${row}]` : `[${row}][${column}]`;
  throw new SimdpropError('LABEL', `${what}${where} is ${describe(value)}: indices must be integers in [0, ${limit - 1}]`);
}

// An element loop, not i32.set: V8's set from one Int32Array to another allocated on every call (56 bytes, measured).
function writeIndices(i32: Int32Array, at: number, x: Int32Array | number[] | number[][], size: number): void {
  if (x.length > 0 && Array.isArray(x[0])) {
    const rows = x as number[][];
    for (let r = 0; r < rows.length; r++) {
      const row = rows[r];
      for (let c = 0; c < size; c++) i32[at + r * size + c] = row[c];
    }
    return;
  }
  const flat = x as ArrayLike<number>;
  for (let i = 0; i < flat.length; i++) i32[at + i] = flat[i];
}

/** Rows [start, end) of one input's batch, as the same kind of value. */
export function sliceRows(value: InputData, start: number, end: number, size: number): InputData {
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

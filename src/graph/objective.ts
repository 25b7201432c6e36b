// What a step minimizes: the loss on each output that has one (per row, or per position of an N-D
// output), their weights, and the kernel calls that compute them and write each output's gradient.
import type { ActivationName } from '../activations.js';
import type { Kernels } from '../backend/kernels.js';
import type { Tape } from '../backend/wasm/tape.js';
import { SimdpropError, describe } from '../errors.js';
import { checkLoss, checkLossFitsOutput, huberDelta, lossTakesTargets, runLoss, type LossName } from '../losses.js';
import type { Pointers } from './memory.js';
import type { Plan } from './plan.js';

/** A loss for the one output, or one per output (in order, or by output name; an output may have none). */
export type LossSpec = LossName | readonly (LossName | undefined)[] | Readonly<Record<string, LossName>>;

export interface LossCallOptions {
  /** Huber's threshold (default 1). */
  delta?: number;
  /** Weights of the outputs' losses in the total (default 1 each), in order or by output name. */
  lossWeights?: readonly number[] | Readonly<Record<string, number>>;
}

/** The loss on one output for the current step: its kind (undefined: none), targets and weight. */
export interface OutputLoss {
  kind: LossName | undefined;
  /** Whether it compares the output with targets (every loss but 'mean'), and whether they are class labels. */
  targets: boolean;
  labels: boolean;
  delta: number;
  weight: number;
}

export const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);

export class Objective {
  /** The losses of the current step, one per output. */
  readonly slots: OutputLoss[];
  /** The squashing each output ends with (the losses that take logits refuse one). */
  private readonly activations: ActivationName[];
  /** Which outputs have a loss this step (kept, filled by withLoss()). */
  private readonly sources: boolean[];
  /** Each output's loss of the last step, unweighted (what fit logs per output). */
  readonly values: Float64Array;
  // What the last use() read, to skip reading the same again: a training loop passes one options object.
  private lastLoss: unknown = undefined;
  private lastOptions: LossCallOptions | undefined = undefined;
  private lastDelta: unknown = undefined;
  private lastWeights: unknown = undefined;
  /** Bumped each time use() reads losses anew: equal revisions mean the same losses read from the same options. */
  revision = 0;

  constructor(private readonly plan: Plan, private readonly outputNames: readonly string[]) {
    this.slots = plan.outputs.map(() => ({ kind: undefined, targets: false, labels: false, delta: 1, weight: 1 }));
    this.values = new Float64Array(plan.outputs.length);
    this.sources = plan.outputs.map(() => false);
    this.activations = plan.outputs.map((t) => {
      const producer = plan.tensors[t].producer;
      return producer < 0 ? 'linear' : (plan.nodes[producer].op as { activation?: ActivationName }).activation ?? 'linear';
    });
  }

  /** Reads `loss` (and the weights) into the step's losses; checks each against its output. */
  use(loss: unknown, options: LossCallOptions | undefined): void {
    if (loss === this.lastLoss && options === this.lastOptions && options?.delta === this.lastDelta && options?.lossWeights === this.lastWeights &&
      this.sameEntries(loss, options?.lossWeights)) return;
    this.read(loss, options);
    this.lastLoss = loss;
    this.lastOptions = options;
    this.lastDelta = options?.delta;
    this.lastWeights = options?.lossWeights;
  }

  // The arrays or records a loop passes again still hold what read() took from them (one may be edited in place).
  private sameEntries(loss: unknown, weights: unknown): boolean {
    if (typeof loss === 'string' && weights === undefined) return true;
    const names = this.outputNames;
    for (let o = 0; o < this.slots.length; o++) {
      const slot = this.slots[o];
      const given = typeof loss === 'string' ? loss : Array.isArray(loss) ? loss[o] : (loss as Record<string, unknown>)[names[o]];
      if (given !== slot.kind) return false;
      if (weights === undefined) continue;
      const weight = Array.isArray(weights) ? weights[o] : (weights as Record<string, unknown>)[names[o]];
      if ((weight ?? 1) !== slot.weight) return false;
    }
    return true;
  }

  private read(loss: unknown, options: LossCallOptions | undefined): void {
    this.revision++;
    this.lastLoss = undefined;
    const count = this.slots.length;
    const delta = huberDelta(options);
    if (count === 1 && typeof loss === 'string' && options?.lossWeights === undefined) {
      // The common case, on every step of a one-output model: no arrays, records or weights to read.
      const kind = checkLoss(loss);
      checkLossFitsOutput(kind, this.activations[0]);
      const slot = this.slots[0];
      slot.kind = kind;
      slot.targets = lossTakesTargets(kind);
      slot.delta = delta;
      slot.weight = 1;
      return;
    }
    const names = this.outputNames;
    const single = count === 1 && !isRecord(loss);
    if (!single && !(Array.isArray(loss) && loss.length === count) && !isRecord(loss)) {
      throw new SimdpropError('OPTION', `loss must name a loss for each of the model's ${count} outputs (${names.join(', ')}): ` +
        `an array of ${count} or a record by output name, got ${describe(loss)}`);
    }
    if (isRecord(loss)) {
      for (const key in loss) {
        if (!names.includes(key)) throw new SimdpropError('OPTION', `loss names output "${key}", but the model's outputs are ${names.join(', ')}`);
      }
    }
    const weights = options?.lossWeights;
    let any = false;
    for (let o = 0; o < count; o++) {
      const given = single ? loss : Array.isArray(loss) ? loss[o] : (loss as Record<string, unknown>)[names[o]];
      const kind = given === undefined && count > 1 ? undefined : checkLoss(given);
      if (kind !== undefined) checkLossFitsOutput(kind, this.activations[o]);
      let weight = 1;
      if (weights !== undefined) {
        const value = Array.isArray(weights) ? weights[o] : isRecord(weights) ? (weights as Record<string, number>)[names[o]] : undefined;
        if (value !== undefined && !(typeof value === 'number' && Number.isFinite(value) && value >= 0)) {
          throw new SimdpropError('OPTION', `lossWeights for output "${names[o]}" must be a finite number ≥ 0, got ${describe(value)}`);
        }
        weight = value ?? 1;
      }
      const slot = this.slots[o];
      slot.kind = kind;
      slot.targets = kind !== undefined && lossTakesTargets(kind);
      slot.delta = delta;
      slot.weight = weight;
      any ||= kind !== undefined;
    }
    if (!any) throw new SimdpropError('OPTION', 'loss gives no output a loss');
  }

  /**
   * The weighted sum of the outputs' losses against the targets regions at `at`; writes dL/d(output)
   * for each output with a loss (scaled by its weight). A tape records them: the sum is then total().
   */
  run(kernels: Kernels, at: Pointers, rows: number): number {
    // One output: its loss alone, so the value is boxed once on its way out, not summed.
    if (this.slots.length === 1) return this.outputLoss(kernels, at, rows, 0);
    let total = 0;
    for (let o = 0; o < this.slots.length; o++) {
      if (this.slots[o].kind !== undefined) total += this.outputLoss(kernels, at, rows, o);
    }
    return total;
  }

  // Output o's loss times its weight; its gradient is scaled by the weight too.
  private outputLoss(kernels: Kernels, at: Pointers, rows: number, o: number): number {
    const slot = this.slots[o];
    const tensor = this.plan.tensors[this.plan.outputs[o]];
    const cols = tensor.type.shape[tensor.type.shape.length - 1];
    const positions = rows * (tensor.size / cols);
    const value = runLoss(kernels, slot.kind!, at.outputGrads[o], at.outputs[o], at.targets[o], slot.labels, positions, cols, slot.delta);
    this.values[o] = value;
    if (slot.weight === 1) return value;
    kernels.scale(at.outputGrads[o], positions * cols, slot.weight);
    return slot.weight * value;
  }

  /** The weighted sum of the losses the tape ran (in the order run() recorded them). */
  total(tape: Tape): number {
    const values = this.values;
    if (this.slots.length === 1) {
      values[0] = tape.lossValue(0);
      return this.slots[0].weight === 1 ? values[0] : this.slots[0].weight * values[0];
    }
    let total = 0;
    let k = 0;
    for (let o = 0; o < this.slots.length; o++) {
      const slot = this.slots[o];
      if (slot.kind === undefined) continue;
      values[o] = tape.lossValue(k++);
      total += slot.weight === 1 ? values[o] : slot.weight * values[o];
    }
    return total;
  }

  /** Which outputs have a loss this step (a kept array). */
  withLoss(): boolean[] {
    const sources = this.sources;
    for (let o = 0; o < this.slots.length; o++) sources[o] = this.slots[o].kind !== undefined;
    return sources;
  }
}

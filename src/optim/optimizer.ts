// What every optimizer shares: the model it updates and zeroGrad(). State lives in the model's block,
// in slots laid out like the params, so a step is one kernel call over the whole parameter block.
import type { Backend } from '../backend/backend.js';
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import { readOptimizerState } from '../io/sequential-file.js';

/** What an optimizer needs of a model: its flat parameter block, the tensors in it, and state slots. */
export interface ParameterStore {
  readonly backend: Backend;
  readonly kernels: Kernels;
  readonly paramsPointer: number;
  readonly gradsPointer: number;
  readonly sectionFloats: number;
  /** The layers groups name by index, and what errors call them ('dense layers' in a Sequential). */
  readonly layers: readonly { trainable: boolean }[];
  readonly layersLabel: string;
  readonly tensorCount: number;
  /** The layer parameter tensor t belongs to, what groups select it by, and its span in floats. */
  tensorLayer(t: number): { trainable: boolean };
  tensorTags(t: number): readonly string[];
  tensorStart(t: number): number;
  tensorEnd(t: number): number;
  /** The layer of this name (groups name layers by index or by name), or undefined. */
  layerNamed(name: string): { trainable: boolean } | undefined;
  reserveStateSlots(count: number): number;
  statePointer(slot: number): number;
  markGradientsUsed(): void;
  zeroGrad(): void;
  /** The architecture as the model's file records it: saved optimizer state must be for the same one. */
  readonly architecture: string;
  /** Tensors of at least this many floats are updated apart from each other (threads split them; Infinity: none). */
  readonly splitTensorsFrom: number;
}

/**
 * Different hyper-parameters for some tensors, like PyTorch's parameter groups: e.g.
 * `{ params: 'bias', weightDecay: 0 }` (no decay on biases), `{ params: 'noDecay', weightDecay: 0 }`
 * (nor on norm parameters) or `{ layers: [0], lrScale: 0.1 }`. Later groups override earlier ones
 * where they overlap.
 */
export interface ParamGroup {
  /** The layers the group covers, by index into model.layers or by name (default: all). */
  layers?: (number | string)[];
  /**
   * Which of their tensors, by tag: 'weight' or 'bias' (the tensor's kind), 'decay' (weights that decay
   * in nanoGPT's recipe: dense and embedding weights) or 'noDecay' (biases and norm parameters).
   * Default: all.
   */
  params?: string;
  /** A factor on the optimizer's lr for these tensors (default 1), so schedules scale every group alike. */
  lrScale?: number;
  weightDecay?: number;
}

// Floats of one segment row: start, end, lr scale, weight decay.
const SEGMENT = 4;

export abstract class Optimizer {
  /** Steps taken so far. */
  stepCount = 0;
  /** The groups as given, frozen: they apply as they were when the optimizer was made. */
  readonly groups: readonly Readonly<Omit<ParamGroup, 'layers'> & { layers?: readonly (number | string)[] }>[];
  /** Each group's layers, resolved to the layer objects (undefined: all). */
  private readonly groupLayers: (readonly { trainable: boolean }[] | undefined)[];
  /**
   * Rows of [start, end, lrScale, weightDecay]: the trainable parts of the parameter block in float
   * offsets, adjacent tensors with equal settings merged, refilled each step (frozen layers may change).
   */
  protected readonly segments: Float64Array;

  constructor(readonly model: ParameterStore, public lr: number, groups: ParamGroup[] = []) {
    checkNumber('lr', lr, 0, Infinity);
    if (!Array.isArray(groups)) throw new SimdpropError('OPTION', `groups must be an array, got ${describe(groups)}`);
    const tags = new Set<string>();
    for (let t = 0; t < model.tensorCount; t++) for (const tag of model.tensorTags(t)) tags.add(tag);
    this.groupLayers = groups.map((group, g) => {
      if (typeof group !== 'object' || group === null) throw new SimdpropError('OPTION', `groups[${g}] must be an object, got ${describe(group)}`);
      const layers = group.layers?.map((layer, i) => {
        if (typeof layer === 'string') {
          const named = model.layerNamed(layer);
          if (named === undefined) throw new SimdpropError('OPTION', `groups[${g}].layers[${i}] is "${layer}": the model has no layer of that name`);
          return named;
        }
        if (!Number.isInteger(layer) || layer < 0 || layer >= model.layers.length) {
          throw new SimdpropError('OPTION', `groups[${g}].layers[${i}] is ${describe(layer)}: the model has ${model.layersLabel} 0 to ${model.layers.length - 1}`);
        }
        return model.layers[layer];
      });
      if (group.params !== undefined && !(typeof group.params === 'string' && (tags.has(group.params) || group.params === 'weight' || group.params === 'bias'))) {
        throw new SimdpropError('OPTION', `groups[${g}].params must be a tag of the model's parameters (${[...tags].join(', ')}), got ${describe(group.params)}`);
      }
      if (group.lrScale !== undefined) checkNumber(`groups[${g}].lrScale`, group.lrScale, 0, Infinity);
      if (group.weightDecay !== undefined) checkNumber(`groups[${g}].weightDecay`, group.weightDecay, 0, Infinity);
      return layers;
    });
    // Frozen copies: a kept update record stays what the groups say (see stepSignature).
    this.groups = groups.map((group) => Object.freeze({ ...group, ...(group.layers ? { layers: Object.freeze([...group.layers]) } : {}) }));
    this.segments = new Float64Array(SEGMENT * Math.max(1, model.tensorCount));
  }

  /** Fills `segments` for this step (weightDecay: the optimizer's own); returns how many rows. */
  protected fillSegments(weightDecay: number): number {
    const segments = this.segments;
    // Runs of adjacent tensors with the same settings are one call, but two tensors the threads split
    // are never in one: each is then updated in shares at the rows its gradient product (Xᵀ·dZ, split
    // by rows) wrote, give or take the small tensors beside it, so its gradient does not cross between
    // cores (measured: 784-512-512-10 on 2 threads, best step 5.9–6.1 ms against 6.4–7.0 merged).
    const apart = this.model.splitTensorsFrom;
    let count = 0;
    let large = false;
    for (let t = 0; t < this.model.tensorCount; t++) {
      const layer = this.model.tensorLayer(t);
      if (!layer.trainable) continue;
      const tags = this.model.tensorTags(t);
      let lrScale = 1;
      let decay = weightDecay;
      for (let g = 0; g < this.groups.length; g++) {
        const group = this.groups[g];
        if (group.params !== undefined && !tags.includes(group.params)) continue;
        const layers = this.groupLayers[g];
        if (layers !== undefined && !layers.includes(layer)) continue;
        if (group.lrScale !== undefined) lrScale = group.lrScale;
        if (group.weightDecay !== undefined) decay = group.weightDecay;
      }
      const start = this.model.tensorStart(t);
      const end = this.model.tensorEnd(t);
      const last = SEGMENT * (count - 1);
      const isLarge = end - start >= apart;
      if (count > 0 && segments[last + 1] === start && segments[last + 2] === lrScale && segments[last + 3] === decay && !(large && isLarge)) {
        segments[last + 1] = end;
        large ||= isLarge;
        continue;
      }
      large = isLarge;
      const row = SEGMENT * count++;
      segments[row] = start;
      segments[row + 1] = end;
      segments[row + 2] = lrScale;
      segments[row + 3] = decay;
    }
    return count;
  }

  /** The model's state slots this optimizer keeps (moments, velocities …), in the order it reserved them. */
  private readonly slots: number[] = [];

  /** Reserves `count` zeroed state slots in the model's block; returns the first one's index. */
  protected reserveSlots(count: number): number {
    const first = this.model.reserveStateSlots(count);
    for (let i = 0; i < count; i++) this.slots.push(first + i);
    return first;
  }

  /** @internal The optimizer's state for model.save({ optimizer }): settings, and each slot's floats. */
  stateForSaving(): { metadata: Record<string, unknown>; slots: Float32Array[] } {
    const { model } = this;
    const f32 = model.backend.heap.f32;
    const slots = this.slots.map((slot) => f32.slice(model.statePointer(slot) >> 2, (model.statePointer(slot) >> 2) + model.sectionFloats));
    return { metadata: { kind: this.constructor.name, stepCount: this.stepCount, lr: this.lr, slots: slots.length }, slots };
  }

  /**
   * Restores state saved with model.save({ optimizer }) into this optimizer, which must be of the same
   * kind, made for a model of the same architecture: training then continues exactly where it stopped.
   */
  loadState(bytes: Uint8Array): void {
    const saved = readOptimizerState(bytes, this.model.architecture, this.model.sectionFloats);
    if (saved.kind !== this.constructor.name) {
      throw new SimdpropError('FILE', `the file holds the state of a ${saved.kind}, not of a ${this.constructor.name}`);
    }
    if (saved.slots.length !== this.slots.length) {
      throw new SimdpropError('FILE', `the file holds ${saved.slots.length} state slots, this ${this.constructor.name} keeps ${this.slots.length}: its options differ (momentum, centered …)`);
    }
    const { model } = this;
    this.slots.forEach((slot, i) => model.backend.heap.f32.set(saved.slots[i], model.statePointer(slot) >> 2));
    this.stepCount = saved.stepCount;
    this.lr = saved.lr;
  }

  /** Sets the model's parameter gradients to zero (they accumulate across backward() calls). */
  zeroGrad(): void {
    this.model.zeroGrad();
  }

  /** The optimizer's own weight decay (groups may override it). */
  abstract readonly weightDecay: number;

  /** Updates every trainable parameter from its gradient; frozen layers are left exactly as they are. */
  /**
   * @internal What this step's update records depend on besides the model's layout and trainable
   * layers (which the model checks) and the learning rate: the part the step number decides. Equal
   * values (and lr) mean equal records, which a model may then run again instead of recording them.
   * By default the step number itself: records that change every step (Adam's bias correction).
   */
  stepSignature(step: number): number {
    return step;
  }

  /** @internal A step whose update a model ran again from its tape (see stepSignature): the counters move. */
  replayedStep(): void {
    this.stepCount++;
    this.model.markGradientsUsed();
  }

  step(): void {
    const count = this.fillSegments(this.weightDecay);
    const segments = this.segments;
    const step = this.stepCount + 1;
    for (let row = 0; row < count * SEGMENT; row += SEGMENT) {
      const start = segments[row];
      this.update(start * 4, segments[row + 1] - start, this.lr * segments[row + 2], segments[row + 3], step);
    }
    this.stepCount = step;
    this.model.markGradientsUsed();
  }

  /**
   * Updates n parameters from byte `offset` of the params section (the grads and every state slot at
   * the same offset of theirs) with the segment's lr and weight decay; `step` counts from 1.
   */
  protected abstract update(offset: number, n: number, lr: number, weightDecay: number, step: number): void;
}

/** Throws an OPTION error unless value is a finite number in [min, max). */
export function checkNumber(what: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value >= max) {
    const range = max === Infinity ? `≥ ${min}` : `in [${min}, ${max})`;
    throw new SimdpropError('OPTION', `${what} must be a finite number ${range}, got ${describe(value)}`);
  }
  return value;
}

// A model's memory: one block of its backend's heap laid out by the plan for a batch of `capacity`
// samples and some optimizer state slots, the pointers every op gets into it, and its growth. A larger
// batch or a new state slot moves the model to a larger block; parameters, gradients, state and
// buffers come along, activations do not.
import type { Backend } from '../backend/backend.js';
import { SimdpropError } from '../errors.js';
import type { Rng } from '../rng.js';
import type { Initializer, OpCall, RandomStream } from './op.js';
import { layOut, type Layout, type Plan } from './plan.js';

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

// Frees a model's block if the model is garbage-collected without dispose(): a safety net only, and
// absent where the runtime has no FinalizationRegistry (workerd).
const blocks = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry<{ backend: Backend; block: number }>((cell) => cell.backend.heap.free(cell.block))
  : undefined;

export class ModelMemory {
  private readonly cell: { backend: Backend; block: number };
  private slots = 0;
  private rows = 0;
  private current!: Layout;
  /** The pointers of the current layout in the block. */
  at!: Pointers;
  /** Bumped by every move: the regions' offsets changed (a step's recorded records no longer apply). */
  version = 0;

  constructor(
    owner: object,
    private readonly backend: Backend,
    private readonly plan: Plan,
    private readonly random: RandomStream,
    /** Called after every move: what was computed over the old block is gone. */
    private readonly moved: () => void,
  ) {
    this.cell = { backend, block: 0 };
    this.relayout(1, 0);
    blocks?.register(owner, this.cell, owner);
  }

  get block(): number {
    return this.cell.block;
  }

  get capacity(): number {
    return this.rows;
  }

  get stateSlots(): number {
    return this.slots;
  }

  get layout(): Layout {
    return this.current;
  }

  get params(): number {
    return this.cell.block;
  }

  get grads(): number {
    return this.cell.block + this.plan.sectionFloats * 4;
  }

  state(slot: number): number {
    return this.cell.block + (2 + slot) * this.plan.sectionFloats * 4;
  }

  get buffers(): number {
    return this.cell.block + this.current.buffers;
  }

  /** Adds `count` zeroed state slots; returns the first one's index. */
  addStateSlots(count: number): number {
    const first = this.slots;
    this.relayout(this.rows, first + count);
    return first;
  }

  /** Room for `rows` samples: a MEMORY error, with the model as it was, when the memory cannot grow to it. */
  reserve(rows: number): void {
    if (rows <= this.rows) return;
    try {
      this.relayout(rows, this.slots);
    } catch (error) {
      // The new block is reserved before the old one is given up: the model is as it was.
      if (error instanceof RangeError) {
        throw new SimdpropError('MEMORY', `a batch of ${rows} rows needs more memory than the backend can grow to ` +
          `(${error.message.replace(/^simdprop: /, '')}): use smaller batches (predict() and evaluate() take a batchSize)`);
      }
      throw error;
    }
  }

  // Moves to a block for `capacity` samples and `slots` state slots, keeping params, grads, state and
  // buffers; activations are not kept.
  private relayout(capacity: number, slots: number): void {
    const plan = this.plan;
    const layout = layOut(plan, capacity, slots);
    const section = plan.sectionFloats * 4;
    const heap = this.backend.heap;
    const block = heap.alloc(layout.bytes);
    const old = this.cell.block;
    const kernels = this.backend.kernels;
    if (old !== 0) {
      kernels.copy(block, old, (2 + this.slots) * plan.sectionFloats);
      if (plan.bufferFloats > 0) kernels.copy(block + layout.buffers, old + this.current.buffers, plan.bufferFloats);
      heap.free(old);
    } else {
      kernels.fill(block, 2 * plan.sectionFloats, 0);
    }
    if (slots > this.slots) kernels.fill(block + (2 + this.slots) * section, (slots - this.slots) * plan.sectionFloats, 0);
    this.version++;
    this.cell.block = block;
    this.rows = capacity;
    this.slots = slots;
    this.current = layout;
    this.at = this.pointers(block, () => heap.f32);
    this.moved();
  }

  /**
   * The current layout's pointers from `base`: the model's own block, or a copy of it elsewhere (the
   * gradient check runs the plan over a float64 copy), whose floats `memory` gives.
   */
  pointers(base: number, memory: () => Float32Array): Pointers {
    const { plan, current: layout } = this;
    const section = plan.sectionFloats * 4;
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

  /** Parameters and buffers as their initializers say, from the model's seeded RNG. */
  initialize(rng: Rng): void {
    const f32 = this.backend.heap.f32;
    for (const parameter of this.plan.parameters) fillInitial(f32, (this.params >> 2) + parameter.start, parameter.size, parameter.init, rng);
    for (const buffer of this.plan.buffers) fillInitial(f32, (this.buffers >> 2) + buffer.start, buffer.size, buffer.init, rng);
  }

  /** Bytes of the block. */
  get bytes(): number {
    return this.backend.heap.blockBytes(this.cell.block);
  }

  dispose(owner: object): void {
    blocks?.unregister(owner);
    this.backend.heap.free(this.cell.block);
  }
}

function fillInitial(f32: Float32Array, start: number, size: number, init: Initializer, rng: Rng): void {
  switch (init.kind) {
    case 'zeros': f32.fill(0, start, start + size); return;
    case 'ones': f32.fill(1, start, start + size); return;
    case 'normal': for (let j = 0; j < size; j++) f32[start + j] = rng.normal() * init.std; return;
    case 'uniform': for (let j = 0; j < size; j++) f32[start + j] = (2 * rng.uniform() - 1) * init.limit;
  }
}

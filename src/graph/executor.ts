// Running a plan: forward runs its nodes in order; backward in reverse, only the nodes a gradient
// reaches that have something to train upstream, each writing ("=") the gradients it is the first to
// write and adding ("+=") to the rest. Which nodes run and every accumulate flag are worked out once
// for the trainable layers, the mode and the outputs with a gradient, and kept while they stay.
import type { Kernels } from '../backend/kernels.js';
import type { ModelMemory, Pointers } from './memory.js';
import type { Plan } from './plan.js';

export class Executor {
  // The backward's configuration, recomputed when the trainable layers, the mode or the outputs with
  // gradients change (see configure).
  private configured = false;
  private configuredWrite = false;
  private readonly configuredSources: boolean[];
  private readonly configuredTrainable: boolean[];
  private readonly runs: boolean[];
  /** In write mode: parameters no backward writes this step (frozen, or unreached), filled with 0 instead. */
  private readonly zeroed: number[] = [];

  constructor(private readonly plan: Plan, private readonly memory: ModelMemory) {
    this.configuredSources = plan.outputs.map(() => false);
    this.configuredTrainable = plan.layers.map(() => true);
    this.runs = plan.nodes.map(() => false);
  }

  /** The pointers changed (the model moved): the backward is configured again on its next run. */
  invalidate(): void {
    this.configured = false;
  }

  /** Runs the nodes on `rows` samples of the input regions at `at`; `training` applies dropout. */
  forward(kernels: Kernels, at: Pointers, rows: number, training: boolean): void {
    const { nodes } = this.plan;
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
   * Backpropagates the output gradients in the model's block (from the outputs in `sources`).
   * Parameter gradients are written (write: a step's, which need no zeroing first) or added to.
   */
  backward(kernels: Kernels, rows: number, write: boolean, sources: readonly boolean[]): void {
    if (!this.isConfigured(write, sources)) this.configure(write, sources);
    const { nodes, parameters } = this.plan;
    const at = this.memory.at;
    if (write) {
      const grads = this.memory.grads;
      for (let z = 0; z < this.zeroed.length; z++) {
        const parameter = parameters[this.zeroed[z]];
        kernels.fill(grads + parameter.start * 4, parameter.size, 0);
      }
    }
    for (let n = nodes.length - 1; n >= 0; n--) {
      if (!this.runs[n]) continue;
      const call = at.calls[n];
      call.rows = rows;
      call.again = false;
      nodes[n].op.backward(kernels, call);
    }
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
   * adds to what the gradients hold), with gradients flowing from the outputs in `sources`.
   */
  private configure(write: boolean, sources: readonly boolean[]): void {
    const plan = this.plan;
    const layers = plan.layers;
    this.configured = true;
    this.configuredWrite = write;
    for (let o = 0; o < sources.length; o++) this.configuredSources[o] = sources[o];
    for (let l = 0; l < layers.length; l++) this.configuredTrainable[l] = layers[l].trainable;
    const { tensors, nodes } = plan;
    const { at, layout } = this.memory;
    const calls = at.calls;
    const section = plan.sectionFloats * 4;
    const trains = (node: number): boolean => {
      const layer = plan.layerIndexOf(nodes[node].layer);
      return layers[layer].trainable && plan.layerParameters[layer].length > 0;
    };
    // requires[t]: t's gradient is wanted — it is float32 and a model input's or downstream of one, or
    // of a trainable layer (the model inputs' own gradients are made on demand: inputGradients()).
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
    // Whether a backward before (in reverse order) has written parameter p's gradient: later writers add.
    const unwritten = plan.parameters.map(() => true);
    this.zeroed.length = 0;
    for (let n = nodes.length - 1; n >= 0; n--) {
      const node = nodes[n];
      const call = calls[n];
      const runs = flows[tensors[node.output].storage] && requires[node.output] && node.spec.aliasOf === undefined;
      this.runs[n] = runs;
      const layer = plan.layerIndexOf(node.layer);
      const writesParams = runs && trains(n);
      for (let p = 0; p < call.paramGrads.length; p++) call.paramGrads[p] = writesParams ? call.params[p] + section : 0;
      // A node writes its parameters' gradients ("=") when it is the first to reach all of them; when it
      // reaches some first and others after (a layer with one tied parameter used again), it adds, and
      // its first ones are zeroed before the backward.
      const own = plan.layerParameters[layer];
      const later = own.some((p) => !unwritten[p]);
      call.accumulateParams = !write || later ? 1 : 0;
      if (writesParams) {
        for (const p of own) {
          if (write && later && unwritten[p]) this.zeroed.push(p);
          unwritten[p] = false;
        }
      }
      if (node.spec.aliasOf !== undefined) {
        // A view: the gradient its readers write is its input's own.
        if (flows[tensors[node.output].storage]) flows[tensors[node.inputs[0]].storage] = true;
        continue;
      }
      for (let i = 0; i < node.inputs.length; i++) {
        const t = node.inputs[i];
        const storage = tensors[t].storage;
        const wanted = runs && requires[t] && tensors[t].producer >= 0 && !(tensors[storage].producer < 0);
        call.inputGrads[i] = wanted ? at.base + layout.grads[t] : 0;
        call.accumulateInputs[i] = written[storage] ? 1 : 0;
        if (wanted) {
          written[storage] = true;
          flows[storage] = true;
        }
      }
    }
    // A step writes every parameter's gradient: those no backward reaches (a frozen layer's) are zeroed.
    if (write) {
      for (let p = 0; p < unwritten.length; p++) if (unwritten[p]) this.zeroed.push(p);
    }
  }

  /**
   * The model inputs' gradients, after a backward: each node that reads an input (or a view of it)
   * runs its backward again for that input alone, from what its backward left (no parameter
   * gradients), the last reader "=" and the others "+=", in the order of a backward.
   */
  inputGradients(kernels: Kernels, rows: number): void {
    const { plan } = this;
    const at = this.memory.at;
    plan.inputs.forEach((t, i) => {
      const grad = at.inputGrads[i];
      if (grad === 0) return;
      let written = false;
      for (let n = plan.nodes.length - 1; n >= 0; n--) {
        const node = plan.nodes[n];
        if (!this.runs[n] || !node.inputs.some((input) => plan.tensors[input].storage === t)) continue;
        const call = at.calls[n];
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
      if (!written) kernels.fill(grad, rows * plan.tensors[t].size, 0);
    });
  }
}

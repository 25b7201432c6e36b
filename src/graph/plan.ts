// The plan of a model: from its inputs and outputs, the nodes in topological order (with fusable
// pairs fused), the layers and their stable names, the table of parameters and buffers, which tensors
// share storage (a reshape is a view), who reads each tensor, and the memory layout for a batch of
// `capacity` samples: one block laid out
//   params | grads | optimizer state slots | buffers | inputs, activations, saved tensors and their
//   gradients | targets | scratch
// Params, grads and every state slot share one layout, so zeroing is one fill, the gradient norm one
// reduction, an optimizer one call per run of tensors with the same settings.
import { SimdpropError, describe } from '../errors.js';
import type { BufferDType, BufferSpec, Initializer, NodeSpec, Op, ParameterSpec, TensorType, TorchLayout } from './op.js';
import { formatShape, SymbolicTensor } from './symbolic.js';

/** What the plan needs of a layer beyond the Op interface: its name and how errors name it. */
export interface PlannedLayer extends Op {
  readonly name: string | undefined;
  readonly label: string;
  trainable: boolean;
  /** Initializers in place of its parameters' defaults, by parameter name. */
  readonly init?: Readonly<Record<string, Initializer>>;
}

export interface PlanTensor {
  readonly index: number;
  readonly type: TensorType;
  /** Values per sample. */
  readonly size: number;
  /** The node that makes it, or −1 for a model input. */
  readonly producer: number;
  /** The tensor whose memory it is (itself, or what a reshape views). */
  readonly storage: number;
  /** The nodes that read it, in order. */
  readonly consumers: number[];
  readonly symbol: SymbolicTensor;
}

export interface PlanNode {
  readonly index: number;
  /** The layer whose parameters it uses. */
  readonly layer: PlannedLayer;
  /** What runs: the layer itself, or the layer fused with the one after it. */
  readonly op: Op;
  readonly spec: NodeSpec;
  readonly inputs: readonly number[];
  readonly output: number;
  /** The layers this node runs, for summaries: one, or two when fused. */
  readonly layers: readonly PlannedLayer[];
}

export interface PlanParameter {
  /** The model's name for it: `<layer name>.<tensor name>`. */
  readonly name: string;
  /** Index of its layer in Plan.layers. */
  readonly layer: number;
  readonly shape: readonly number[];
  readonly size: number;
  readonly init: Initializer;
  readonly tags: readonly string[];
  readonly torch: TorchLayout | undefined;
  /**
   * Float offset in the params section (the grads and every state slot alike); 16-float aligned. The
   * section holds the tensors in `memoryOrder`: those without weight decay ('noDecay') after the rest,
   * so that an optimizer's groups by decay are two runs of the section, two calls a step.
   */
  readonly start: number;
  /**
   * The names other layers tied to it know it by (`lm_head.weight` for a head tied to an embedding):
   * the tensor is stored once, under `name`, and read from a state_dict under any of them.
   */
  readonly aliases: string[];
}

export interface PlanBuffer {
  readonly name: string;
  readonly layer: number;
  readonly shape: readonly number[];
  readonly dtype: BufferDType;
  /** 4-byte words it takes: its elements, twice that for int64. */
  readonly size: number;
  readonly init: Initializer;
  readonly torch: TorchLayout | undefined;
  /** Float offset in the buffers section. */
  readonly start: number;
}

const ALIGN_FLOATS = 16;
export const alignFloats = (count: number): number => Math.ceil(count / ALIGN_FLOATS) * ALIGN_FLOATS;

export class Plan {
  readonly tensors: PlanTensor[] = [];
  readonly nodes: PlanNode[] = [];
  /** Every layer, in the order of its first use. */
  readonly layers: PlannedLayer[] = [];
  /** Each layer's name: given, or made from its kind (`dense_0`, `layer_norm_1`). */
  readonly layerNames: string[] = [];
  readonly parameters: PlanParameter[] = [];
  /** The parameters (indices into `parameters`) in the order the params section holds them. */
  readonly memoryOrder: number[];
  /** Each layer's parameters, as indices into `parameters`. */
  readonly layerParameters: number[][] = [];
  readonly buffers: PlanBuffer[] = [];
  readonly layerBuffers: number[][] = [];
  /** Floats of each of the params, grads and state sections (tensors padded to 64 bytes). */
  readonly sectionFloats: number;
  readonly bufferFloats: number;
  /** Trainable scalars. */
  readonly parameterCount: number;
  /** The model's inputs and outputs as tensor indices. */
  readonly inputs: number[];
  readonly outputs: number[];
  readonly inputNames: string[];
  readonly outputNames: string[];
  /** The largest product of one node per sample (threads split products above a size). */
  readonly widestProduct: number;
  /** Whether a node runs JavaScript between kernels (a custom layer): its steps cannot record a tape. */
  readonly callsJavaScript: boolean;
  /** The fewest samples a batch in training mode may have (NodeSpec.minTrainingRows), and the layer that needs them. */
  readonly minTrainingRows: number;
  readonly minTrainingRowsLayer: string;
  /** The graph as it was built: the inputs, then every layer's output in a topological order (before fusing). */
  readonly symbols: readonly SymbolicTensor[];

  /**
   * `layerNames` names layers that have no name of their own (a Sequential's nn.Sequential indices, a
   * file's recorded names); the rest are made from their kind.
   */
  constructor(
    inputs: readonly SymbolicTensor[], outputs: readonly SymbolicTensor[], outputNames: readonly (string | undefined)[],
    layerNames: ReadonlyMap<Op, string> = new Map(),
  ) {
    inputs.forEach((tensor, i) => {
      if (!(tensor instanceof SymbolicTensor) || tensor.producer !== undefined) {
        throw new SimdpropError('GRAPH', `inputs[${i}] must be a tensor made by input(), got ${tensor instanceof SymbolicTensor ? tensor.describe() : describe(tensor)}`);
      }
      if (inputs.indexOf(tensor) !== i) throw new SimdpropError('GRAPH', `inputs[${i}] is inputs[${inputs.indexOf(tensor)}] again`);
    });
    outputs.forEach((tensor, i) => {
      if (!(tensor instanceof SymbolicTensor)) throw new SimdpropError('GRAPH', `outputs[${i}] must be a symbolic tensor (a layer's apply()), got ${describe(tensor)}`);
    });
    const symbols = new Map<SymbolicTensor, number>();
    // Every tensor the outputs depend on, by depth-first search from them: the graph's own inputs must
    // be among the model's inputs.
    const reached = new Set<SymbolicTensor>();
    const order: SymbolicTensor[] = [];
    const visit = (tensor: SymbolicTensor, from: SymbolicTensor): void => {
      if (reached.has(tensor)) return;
      reached.add(tensor);
      if (tensor.producer === undefined) {
        if (!inputs.includes(tensor)) {
          throw new SimdpropError('GRAPH', `${from.describe()} depends on ${tensor.describe()}, which is not among the model's inputs: ` +
            'pass every input() the outputs are made from in { inputs }');
        }
      } else {
        for (const source of tensor.producer.inputs) visit(source, from);
      }
      order.push(tensor);
    };
    outputs.forEach((output) => visit(output, output));
    inputs.forEach((tensor) => {
      if (!reached.has(tensor)) throw new SimdpropError('GRAPH', `${tensor.describe()} is not part of the graph: no output depends on it`);
    });
    // Inputs first (in the order given), then the rest in a topological order.
    const sorted = [...inputs, ...order.filter((tensor) => tensor.producer !== undefined)];
    this.symbols = sorted;
    const readers = new Map<SymbolicTensor, number>();
    for (const tensor of sorted) for (const source of tensor.producer?.inputs ?? []) readers.set(source, (readers.get(source) ?? 0) + 1);

    // Fuse a node into the one before it where that one's output has no other reader and is no output.
    const fusedInto = new Map<SymbolicTensor, { first: SymbolicTensor; op: Op }>();
    const absorbed = new Set<SymbolicTensor>();
    for (const tensor of sorted) {
      const producer = tensor.producer;
      if (producer === undefined || producer.inputs.length !== 1) continue;
      const before = producer.inputs[0];
      const first = before.producer;
      if (first === undefined || absorbed.has(before) || fusedInto.has(before) || readers.get(before) !== 1 || outputs.includes(before)) continue;
      const op = first.op.fuseWith?.(producer.op);
      if (op === undefined) continue;
      fusedInto.set(tensor, { first: before, op });
      absorbed.add(before);
    }

    const layerIndex = new Map<Op, number>();
    const addLayer = (layer: PlannedLayer): number => {
      let index = layerIndex.get(layer);
      if (index === undefined) {
        index = this.layers.length;
        this.layers.push(layer);
        layerIndex.set(layer, index);
      }
      return index;
    };
    const addTensor = (symbol: SymbolicTensor, producer: number, storage: number | undefined): number => {
      const index = this.tensors.length;
      this.tensors.push({ index, type: { shape: symbol.shape, dtype: symbol.dtype, torchOrder: symbol.torchOrder }, size: symbol.size, producer, storage: storage ?? index, consumers: [], symbol });
      symbols.set(symbol, index);
      return index;
    };
    for (const symbol of sorted) {
      if (absorbed.has(symbol)) continue;
      const producer = symbol.producer;
      if (producer === undefined) {
        addTensor(symbol, -1, undefined);
        continue;
      }
      const fused = fusedInto.get(symbol);
      const firstProducer = fused ? fused.first.producer! : producer;
      const layer = firstProducer.op as PlannedLayer;
      const layers = fused ? [layer, producer.op as PlannedLayer] : [layer];
      layers.forEach(addLayer);
      const inputIndices = firstProducer.inputs.map((source) => symbols.get(source)!);
      const op = fused ? fused.op : producer.op;
      const spec = fused ? op.node(firstProducer.inputs) : producer.spec;
      const nodeIndex = this.nodes.length;
      const storage = spec.aliasOf === undefined ? undefined : this.tensors[inputIndices[spec.aliasOf]].storage;
      const output = addTensor(symbol, nodeIndex, storage);
      this.nodes.push({ index: nodeIndex, layer, op, spec, inputs: inputIndices, output, layers });
      for (const input of inputIndices) this.tensors[input].consumers.push(nodeIndex);
    }
    this.inputs = inputs.map((tensor) => symbols.get(tensor)!);
    this.outputs = outputs.map((tensor) => symbols.get(tensor)!);

    // Names: given ones must be unique; the others are made from the kind, skipping taken ones.
    const taken = new Map<string, PlannedLayer>();
    const givenName = (layer: PlannedLayer): string | undefined => layer.name ?? layerNames.get(layer);
    for (const layer of this.layers) {
      const given = givenName(layer);
      if (given === undefined) continue;
      const other = taken.get(given);
      if (other !== undefined) throw new SimdpropError('GRAPH', `two layers of the model are named "${given}" (${other.kind} and ${layer.kind}): names must be unique`);
      taken.set(given, layer);
    }
    const counts = new Map<string, number>();
    for (const layer of this.layers) {
      const given = givenName(layer);
      if (given !== undefined) {
        this.layerNames.push(given);
        continue;
      }
      const stem = layer.kind.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
      let n = counts.get(stem) ?? 0;
      while (taken.has(`${stem}_${n}`)) n++;
      counts.set(stem, n + 1);
      const name = `${stem}_${n}`;
      taken.set(name, layer);
      this.layerNames.push(name);
    }
    this.inputNames = this.inputs.map((t, i) => this.tensors[t].symbol.name ?? (this.inputs.length === 1 ? 'input' : `input_${i}`));
    this.outputNames = this.outputs.map((t, i) => outputNames[i] ?? this.defaultOutputName(t, i));
    for (const names of [this.inputNames, this.outputNames]) {
      const seen = new Set<string>();
      for (const name of names) {
        if (seen.has(name)) throw new SimdpropError('GRAPH', `the model has two ${names === this.inputNames ? 'inputs' : 'outputs'} named "${name}": names must be unique`);
        seen.add(name);
      }
    }

    // Parameters and buffers, from each layer's first use; a later use must agree.
    let floats = 0;
    let bufferFloats = 0;
    let count = 0;
    // Parameters that are another layer's (ParameterSpec.tiedTo), resolved once every layer has its own.
    const ties: { layer: number; index: number; spec: ParameterSpec }[] = [];
    this.layers.forEach((layer, l) => {
      const uses = this.nodes.filter((node) => node.layer === layer);
      const inputTypes = (node: PlanNode): TensorType[] => node.inputs.map((t) => this.tensors[t].type);
      const specs: readonly ParameterSpec[] = uses.length > 0 ? layer.parameters(inputTypes(uses[0])) : [];
      const bufferSpecs: readonly BufferSpec[] = uses.length > 0 ? layer.buffers(inputTypes(uses[0])) : [];
      for (const use of uses.slice(1)) {
        const again = layer.parameters(inputTypes(use));
        if (again.length !== specs.length || again.some((spec, i) => formatShape(spec.shape) !== formatShape(specs[i].shape))) {
          throw new SimdpropError('SHAPE', `${layer.label} is applied twice to inputs that need parameters of different shapes`);
        }
      }
      const overrides = Object.keys(layer.init ?? {}).filter((name) => !specs.some((spec) => spec.name === name && spec.tiedTo === undefined));
      if (overrides.length > 0) {
        throw new SimdpropError('OPTION', `${layer.label} has no parameter ${overrides.join(', ')} of its own to initialize: its parameters are ` +
          `${specs.filter((spec) => spec.tiedTo === undefined).map((spec) => spec.name).join(', ') || 'none'}`);
      }
      this.layerParameters.push(specs.map((spec, s) => {
        if (spec.tiedTo !== undefined) {
          ties.push({ layer: l, index: s, spec });
          return -1;
        }
        const size = spec.shape.reduce((p, d) => p * d, 1);
        // Placed below, once every parameter is known.
        const start = -1;
        count += size;
        this.parameters.push({
          name: `${this.layerNames[l]}.${spec.name}`, layer: l, shape: spec.shape, size, init: layer.init?.[spec.name] ?? spec.init, tags: spec.tags,
          torch: spec.torch, start, aliases: [],
        });
        return this.parameters.length - 1;
      }));
      this.layerBuffers.push(bufferSpecs.map((spec) => {
        const dtype = spec.dtype ?? 'float32';
        const name = `${this.layerNames[l]}.${spec.name}`;
        if (dtype === 'int64' && spec.init.kind !== 'zeros') throw new SimdpropError('OPTION', `the int64 buffer ${name} must start at zeros, not ${spec.init.kind}`);
        const size = spec.shape.reduce((p, d) => p * d, 1) * (dtype === 'int64' ? 2 : 1);
        const start = bufferFloats;
        bufferFloats += alignFloats(size);
        this.buffers.push({ name, layer: l, shape: spec.shape, dtype, size, init: spec.init, torch: spec.torch, start });
        return this.buffers.length - 1;
      }));
    });
    for (const { layer, index, spec } of ties) {
      const label = this.layers[layer].label;
      const owner = layerIndex.get(spec.tiedTo!.layer);
      if (owner === undefined) {
        throw new SimdpropError('GRAPH', `${label} is tied to ${(spec.tiedTo!.layer as Partial<PlannedLayer>).label ?? 'a layer'}, which is not part of the model: apply it too`);
      }
      const p = this.layerParameters[owner].find((q) => q >= 0 && this.parameters[q].name === `${this.layerNames[owner]}.${spec.tiedTo!.name}`);
      if (p === undefined) throw new SimdpropError('GRAPH', `${label} is tied to ${this.layers[owner].label}'s ${spec.tiedTo!.name}, which it does not have (or which is tied itself)`);
      const target = this.parameters[p];
      if (formatShape(target.shape) !== formatShape(spec.shape)) {
        throw new SimdpropError('SHAPE', `${label} ties its ${spec.name} ${formatShape(spec.shape)} to ${target.name} ${formatShape(target.shape)}: the shapes must be the same`);
      }
      target.aliases.push(`${this.layerNames[layer]}.${spec.name}`);
      this.layerParameters[layer][index] = p;
    }
    const undecayed = (p: number): number => (this.parameters[p].tags.includes('noDecay') ? 1 : 0);
    this.memoryOrder = this.parameters.map((_, p) => p).sort((a, b) => undecayed(a) - undecayed(b) || a - b);
    for (const p of this.memoryOrder) {
      (this.parameters[p] as { start: number }).start = floats;
      floats += alignFloats(this.parameters[p].size);
    }
    this.sectionFloats = floats;
    this.bufferFloats = bufferFloats;
    this.parameterCount = count;
    this.widestProduct = this.nodes.reduce((most, node) => Math.max(most, node.spec.macsPerSample ?? 0), 0);
    this.callsJavaScript = this.nodes.some((node) => node.spec.callsJavaScript === true);
    const strictest = this.nodes.reduce<PlanNode | undefined>((most, node) =>
      (node.spec.minTrainingRows ?? 1) > (most?.spec.minTrainingRows ?? 1) ? node : most, undefined);
    this.minTrainingRows = strictest?.spec.minTrainingRows ?? 1;
    this.minTrainingRowsLayer = strictest === undefined ? '' : strictest.layers[0].label;
  }

  private defaultOutputName(tensor: number, i: number): string {
    const producer = this.tensors[tensor].producer;
    if (producer >= 0) {
      const layer = this.nodes[producer].layers[this.nodes[producer].layers.length - 1];
      const index = this.layers.indexOf(layer);
      if (index >= 0 && this.layers[index].name !== undefined) return this.layers[index].name!;
    }
    return this.outputs.length === 1 ? 'output' : `output_${i}`;
  }

  /** The index of layer `layer` in `layers`, or −1. */
  layerIndexOf(layer: Op): number {
    return this.layers.indexOf(layer as PlannedLayer);
  }

  /** Float offset where parameter p's span ends: the next one's start in memory (padding included), or the section's end. */
  parameterEnd(p: number): number {
    return this.parameters[p].start + alignFloats(this.parameters[p].size);
  }
}

/** Where everything sits for a batch of `capacity` samples: byte offsets from the start of the block. */
export interface Layout {
  readonly capacity: number;
  readonly stateSlots: number;
  readonly buffers: number;
  /** Each tensor's value and gradient (0: it never has one); views share their storage's. */
  readonly values: number[];
  readonly grads: number[];
  /** Each node's saved tensors, and where its backward may write its working gradient (its outputGrad, or apart). */
  readonly saved: number[][];
  readonly workGrads: number[];
  /** Each output's targets: rows of the output's shape, or int32 labels. */
  readonly targets: number[];
  readonly scratch: number;
  readonly bytes: number;
}

/** Lays out the block for `capacity` samples and `stateSlots` optimizer state slots. */
export function layOut(plan: Plan, capacity: number, stateSlots: number): Layout {
  const section = plan.sectionFloats * 4;
  let cursor = (2 + stateSlots) * section;
  const buffers = cursor;
  cursor += plan.bufferFloats * 4;
  const region = (floats: number): number => {
    const at = cursor;
    cursor += alignFloats(floats) * 4;
    return at;
  };
  const values: number[] = [];
  const grads: number[] = [];
  const saved: number[][] = [];
  const workGrads: number[] = [];
  for (const tensor of plan.tensors) {
    const floats = capacity * tensor.size;
    if (tensor.storage !== tensor.index) {
      values.push(values[tensor.storage]);
      grads.push(grads[tensor.storage]);
      continue;
    }
    values.push(region(floats));
    grads.push(tensor.type.dtype === 'float32' ? region(floats) : 0);
  }
  for (const node of plan.nodes) {
    saved.push((node.spec.saved ?? []).map((s) => region(capacity * s.floatsPerSample + (s.floats ?? 0))));
    const output = plan.tensors[node.output];
    // A model output's gradient is loss()'s, kept for a second backward(): the node works apart from it.
    const apart = plan.outputs.includes(output.storage) && node.spec.aliasOf === undefined;
    workGrads.push(apart ? region(capacity * output.size) : grads[node.output]);
  }
  const targets = plan.outputs.map((t) => region(capacity * plan.tensors[t].size));
  const scratchBytes = plan.nodes.reduce((most, node) => Math.max(most, node.spec.scratchBytes?.(capacity) ?? 0), 0);
  const scratch = region(Math.max(scratchBytes, 64) / 4);
  return { capacity, stateSlots, buffers, values, grads, saved, workGrads, targets, scratch, bytes: cursor };
}

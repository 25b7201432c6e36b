// A stack of layers (each optionally followed by dropout): a chain builder over Model. A stack of
// dense layers keeps the API of a stack — layers by index, inspect(), its summary — and PyTorch's
// nn.Sequential file format (see src/io/sequential-file.ts); a stack of any other layers (conv2d,
// pooling, flatten, …) starts from `inputShape` and saves as a graph. Everything it runs is the model's.
import type { Matrix, Targets } from './data.js';
import { SimdpropError, describe } from './errors.js';
import { Model, summaryTable, type ModelOptions } from './graph/model.js';
import { input } from './graph/symbolic.js';
import {
  readSequentialFile, sequentialArchitecture, torchModuleIndices, writeSequentialFile, type LoadOptions, type SaveOptions,
} from './io/sequential-file.js';
import { Dense } from './layers/dense.js';
import { Dropout } from './layers/dropout.js';
import { Layer } from './layers/layer.js';
import type { LossName, LossOptions } from './losses.js';

export interface SequentialOptions extends ModelOptions {
  /**
   * Each sample's shape without the batch, e.g. [28, 28, 1] for images (channels last): needed when
   * the first layer is not dense, whose input is [inputSize].
   */
  inputShape?: readonly number[];
}

interface Stack<L extends Layer> {
  /** The layers but dropout, in order. */
  layers: L[];
  /** The dropout after each (undefined: none, or a rate of 0). */
  dropouts: (Dropout | undefined)[];
  graph: ConstructorParameters<typeof Model>[0];
  /** Every layer is dense, and the input is the first one's: the stack is PyTorch's nn.Sequential of Linears. */
  dense: boolean;
  /** Names for the layers of other stacks (nn.Sequential's indices). */
  names: Map<Layer, string>;
}

/** The symbolic chain of a stack, checked. */
function chain<L extends Layer>(stack: unknown, inputShape: readonly number[] | undefined): Stack<L> {
  if (!Array.isArray(stack) || stack.length === 0) {
    throw new SimdpropError('OPTION', `Sequential needs a non-empty array of layers, got ${describe(stack)}`);
  }
  const layers: L[] = [];
  const dropouts: (Dropout | undefined)[] = [];
  stack.forEach((layer: unknown, i) => {
    if (layer instanceof Dropout) {
      if (layers.length === 0) throw new SimdpropError('OPTION', `layers[${i}] is dropout, which must follow a dense layer (or any other layer)`);
      if (dropouts[layers.length - 1] !== undefined) throw new SimdpropError('OPTION', `layers[${i}] is a second dropout after one layer`);
      // A rate of 0 drops nothing: the stack has no dropout there.
      dropouts[layers.length - 1] = layer.rate > 0 ? layer : undefined;
      return;
    }
    if (!(layer instanceof Layer)) throw new SimdpropError('TYPE', `layers[${i}] must be a layer (made by dense(), conv2d(), maxPool2d(), …), got ${describe(layer)}`);
    const previous = layers[layers.length - 1];
    if (layer instanceof Dense && previous instanceof Dense && layer.inputSize !== previous.outputSize) {
      throw new SimdpropError('SHAPE',
        `layers[${i}] takes ${layer.inputSize} inputs but the dense layer before it gives ${previous.outputSize}`);
    }
    if (layers.includes(layer as L)) throw new SimdpropError('OPTION', `layers[${i}] is layers[${stack.indexOf(layer)}] again: a stack uses each layer once`);
    layers.push(layer as L);
    dropouts.push(undefined);
  });
  const first = layers[0];
  if (inputShape === undefined && !(first instanceof Dense)) {
    throw new SimdpropError('OPTION', `Sequential's first layer is ${first.label}: give the shape of a sample, e.g. new Sequential(layers, { inputShape: [28, 28, 1] })`);
  }
  const shape = inputShape ?? [(first as unknown as Dense).inputSize];
  const dense = layers.every((layer) => layer instanceof Dense) && shape.length === 1 && shape[0] === (first as unknown as Dense).inputSize;
  // A stack of other layers names each unnamed layer by the index nn.Sequential gives its module: one
  // per layer, one more for an activation fused into it, one per dropout.
  const names = new Map<Layer, string>();
  if (!dense) {
    let index = 0;
    for (const layer of stack as Layer[]) {
      if (layer.name === undefined && !(layer instanceof Dropout)) names.set(layer, String(index));
      const fused = (layer as { activation?: unknown }).activation;
      index += layer.kind !== 'activation' && typeof fused === 'string' && fused !== 'linear' ? 2 : 1;
    }
  }
  const x = input(shape);
  let y = x;
  layers.forEach((layer, i) => {
    y = layer.apply(y);
    const after = dropouts[i];
    if (after !== undefined) y = after.apply(y);
  });
  return { layers, dropouts, graph: { inputs: x, outputs: y }, dense, names };
}

/**
 * A stack of layers. `L` is the kind of its layers: Dense for a stack of dense layers (and dropout),
 * else the union of the kinds given.
 */
export class Sequential<L extends Layer = Dense> extends Model {
  private readonly stackLayers: readonly L[];
  /** Whether every layer is dense: the nn.Sequential file, inspect() and the stack's summary. */
  private readonly denseStack: boolean;
  /** Dropout rate after each layer (0: none). */
  readonly dropoutRates: readonly number[];
  /** The plan's node of each layer, and of the dropout after it (−1: none). */
  private readonly layerNodes: number[];
  private readonly dropoutNodes: number[];

  constructor(stack: readonly (L | Dropout)[], options: SequentialOptions = {}) {
    const { layers, dropouts, graph, dense, names } = chain<L>(stack, options.inputShape);
    super(graph, options, names);
    this.stackLayers = layers;
    this.denseStack = dense;
    this.dropoutRates = dropouts.map((layer) => layer?.rate ?? 0);
    const nodes = this.plan.nodes;
    this.layerNodes = layers.map((layer) => nodes.findIndex((node) => node.layer === layer));
    this.dropoutNodes = dropouts.map((layer) => (layer === undefined ? -1 : nodes.findIndex((node) => node.layer === layer)));
  }

  /** The stack's dense layers, while every layer is dense. */
  private get denseLayers(): readonly Dense[] {
    return this.stackLayers as unknown as readonly Dense[];
  }

  /** The layers but dropout (dropout is a property of the layer it follows: see dropoutRates). */
  override get layers(): readonly L[] {
    return this.stackLayers;
  }

  /** Values per sample in, and out. */
  get inputSize(): number {
    return this.plan.tensors[this.plan.inputs[0]].size;
  }

  get outputSize(): number {
    return this.plan.tensors[this.plan.outputs[0]].size;
  }

  /** A dense stack's "layers.<i>.weight" and "layers.<i>.bias", i the dense layer's index; else the layer's name. */
  protected override parameterName(p: number): string {
    if (!this.denseStack) return super.parameterName(p);
    const parameter = this.plan.parameters[p];
    const layer = this.denseLayers.indexOf(this.plan.layers[parameter.layer] as Dense);
    return `layers.${layer}.${parameter.name.slice(parameter.name.lastIndexOf('.') + 1)}`;
  }

  /**
   * "<i>.weight": the index nn.Sequential gives the module (see torchModuleIndices). Other stacks
   * name their layers so (unless named) when they are made.
   */
  protected override torchName(p: number): string {
    if (!this.denseStack) return super.torchName(p);
    const parameter = this.plan.parameters[p];
    const layer = this.denseLayers.indexOf(this.plan.layers[parameter.layer] as Dense);
    const indices = torchModuleIndices(sequentialArchitecture(this.denseLayers, this.dropoutRates));
    return `${indices[layer]}.${parameter.name.slice(parameter.name.lastIndexOf('.') + 1)}`;
  }

  /** @internal How errors about layer indices name the layers. */
  override get layersLabel(): string {
    return this.denseStack ? 'dense layers' : 'layers';
  }

  protected override describeNode(node: number): string {
    const layer = this.layerNodes.findIndex((n, i) => n === node || this.dropoutNodes[i] === node);
    return `layer ${layer}`;
  }

  override forward(x: Matrix): Float32Array {
    return super.forward(x) as Float32Array;
  }

  override predict(x: Matrix): Float32Array {
    return super.predict(x) as Float32Array;
  }

  override loss(loss: LossName, y: Targets, options?: LossOptions): number {
    return super.loss(loss, y, options);
  }

  /** Freezes layers by index in `layers` (all when no index is given): no gradients, no updates. Returns the model. */
  override freeze(...indices: number[]): this {
    for (const i of this.stackIndices(indices, 'freeze')) this.stackLayers[i].trainable = false;
    return this;
  }

  /** Makes layers trainable again (all when no index is given). Returns the model. */
  override unfreeze(...indices: number[]): this {
    for (const i of this.stackIndices(indices, 'unfreeze')) this.stackLayers[i].trainable = true;
    return this;
  }

  private stackIndices(indices: number[], what: string): number[] {
    if (indices.length === 0) return this.stackLayers.map((_, i) => i);
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.stackLayers.length) {
        const kind = this.denseStack ? 'a dense layer' : 'a layer';
        throw new SimdpropError('OPTION', `${what}: ${describe(i)} is not ${kind} index (0 to ${this.stackLayers.length - 1})`);
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
    if (!this.denseStack) throw new SimdpropError('OPTION', 'inspect() shows the layers of a stack of dense layers; read other models\' values with forward() and namedParameters()');
    const phase = this.lastPhase;
    if (phase === 'none') throw new SimdpropError('ORDER', 'inspect() needs a forward() first');
    const f32 = this.backend.heap.f32;
    return this.denseLayers.map((layer, i) => {
      const n = this.lastBatch * layer.outputSize;
      const view = (offset: number): Float32Array => f32.subarray(offset >> 2, (offset >> 2) + n);
      const regions = this.nodeRegions(this.layerNodes[i]);
      const z = regions.saved.length > 0 ? regions.saved[0] : regions.output;
      const output = this.dropoutNodes[i] >= 0 ? this.nodeRegions(this.dropoutNodes[i]).output : regions.output;
      // dz is dL/da itself for a linear layer, else the layer's working gradient.
      const dz = layer.activation === 'linear' ? regions.outputGrad : regions.workGrad;
      return { layer: i, z: view(z), a: view(regions.output), output: view(output), ...(phase === 'backward' ? { dz: view(dz) } : {}) };
    });
  }

  /** A table of the layers, their shapes and parameter counts, and the memory the model holds. */
  override summary(): string {
    if (!this.denseStack) return super.summary();
    this.checkAlive();
    const rows: string[][] = [['#', 'layer', 'output', 'parameters', 'trainable']];
    this.denseLayers.forEach((layer, i) => {
      const count = layer.weightCount + (layer.hasBias ? layer.outputSize : 0);
      const name = `dense ${layer.inputSize}→${layer.outputSize} ${layer.activation}${layer.hasBias ? '' : ' (no bias)'}`;
      rows.push([String(i), name, `[batch, ${layer.outputSize}]`, count.toLocaleString('en-US'), layer.trainable ? 'yes' : 'frozen']);
      if (this.dropoutRates[i] > 0) rows.push(['', `dropout ${this.dropoutRates[i]}`, `[batch, ${layer.outputSize}]`, '0', '']);
    });
    const trainable = this.denseLayers.reduce((sum, layer) => sum + (layer.trainable ? layer.weightCount + (layer.hasBias ? layer.outputSize : 0) : 0), 0);
    return summaryTable(rows, [
      `parameters: ${this.parameterCount.toLocaleString('en-US')} (${trainable.toLocaleString('en-US')} trainable)`,
      this.memoryLine(),
    ]);
  }

  /** @internal The architecture as the file records it (what optimizer state is checked against). */
  override get architecture(): string {
    if (!this.denseStack) return super.architecture;
    return JSON.stringify(sequentialArchitecture(this.denseLayers, this.dropoutRates));
  }

  /**
   * The model as safetensors bytes: tensors named and laid out like the equivalent PyTorch
   * nn.Sequential's state_dict ("0.weight" [out, in], "0.bias"), the architecture and simdprop's
   * version in the header's __metadata__; with { optimizer }, its state too (see Optimizer.loadState).
   * A stack of other layers saves as a graph (Model.save; Model.load and loadModel read it).
   */
  override save(options: SaveOptions = {}): Uint8Array {
    if (!this.denseStack) return super.save(options);
    this.checkAlive();
    if (options.optimizer !== undefined && options.optimizer.model !== this) {
      throw new SimdpropError('OPTION', 'save({ optimizer }) takes an optimizer made for this model');
    }
    return writeSequentialFile(this.denseLayers, this.dropoutRates, this.namedParameters().map((p) => p.value), options.optimizer?.stateForSaving());
  }

  /**
   * A model from safetensors bytes written by save() — bit-identical parameters — or by PyTorch
   * (safetensors.torch.save_file(model.state_dict(), …)), naming the activations in `options`.
   */
  static override load(bytes: Uint8Array, options: LoadOptions = {}): Sequential<Dense> {
    const file = readSequentialFile(bytes, options);
    const layers = file.records.flatMap((record) => [
      new Dense(record.inputSize, record.outputSize, record.activation, { bias: record.bias, negativeSlope: record.negativeSlope }),
      ...(record.dropout ? [new Dropout(record.dropout)] : []),
    ]);
    const model = new Sequential(layers, { backend: options.backend });
    const parameters = model.namedParameters();
    file.values.forEach((value, p) => parameters[p].value.set(value));
    return model;
  }
}

// A stack of dense layers (each optionally followed by dropout): a chain builder over Model. It keeps
// the API of a stack — layers by index, inspect(), its summary — and PyTorch's nn.Sequential file
// format (see src/io/sequential-file.ts); everything it runs is the model's.
import type { Matrix, Targets } from './data.js';
import { SimdpropError, describe } from './errors.js';
import { Model, summaryTable, type ModelOptions } from './graph/model.js';
import { input } from './graph/symbolic.js';
import {
  readSequentialFile, sequentialArchitecture, torchModuleIndices, writeSequentialFile, type LoadOptions, type SaveOptions,
} from './io/sequential-file.js';
import { Dense } from './layers/dense.js';
import { Dropout } from './layers/dropout.js';
import type { LossName, LossOptions } from './losses.js';

export type SequentialOptions = ModelOptions;

/** The symbolic chain of a stack, checked: the dense layers, the dropout after each, and the output. */
function chain(stack: unknown): { layers: Dense[]; dropouts: (Dropout | undefined)[]; graph: ConstructorParameters<typeof Model>[0] } {
  if (!Array.isArray(stack) || stack.length === 0) {
    throw new SimdpropError('OPTION', `Sequential needs a non-empty array of layers, got ${describe(stack)}`);
  }
  const layers: Dense[] = [];
  const dropouts: (Dropout | undefined)[] = [];
  stack.forEach((layer: unknown, i) => {
    if (layer instanceof Dropout) {
      if (layers.length === 0) throw new SimdpropError('OPTION', `layers[${i}] is dropout, which must follow a dense layer`);
      if (dropouts[layers.length - 1] !== undefined) throw new SimdpropError('OPTION', `layers[${i}] is a second dropout after one dense layer`);
      // A rate of 0 drops nothing: the stack has no dropout there.
      dropouts[layers.length - 1] = layer.rate > 0 ? layer : undefined;
      return;
    }
    if (!(layer instanceof Dense)) throw new SimdpropError('TYPE', `layers[${i}] must be a layer made by dense() or dropout(), got ${describe(layer)}`);
    const previous = layers[layers.length - 1];
    if (previous && layer.inputSize !== previous.outputSize) {
      throw new SimdpropError('SHAPE',
        `layers[${i}] takes ${layer.inputSize} inputs but the dense layer before it gives ${previous.outputSize}`);
    }
    if (layers.includes(layer)) throw new SimdpropError('OPTION', `layers[${i}] is layers[${stack.indexOf(layer)}] again: a stack uses each layer once`);
    layers.push(layer);
    dropouts.push(undefined);
  });
  const x = input([layers[0].inputSize]);
  let y = x;
  layers.forEach((layer, i) => {
    y = layer.apply(y);
    const after = dropouts[i];
    if (after !== undefined) y = after.apply(y);
  });
  return { layers, dropouts, graph: { inputs: x, outputs: y } };
}

export class Sequential extends Model {
  private readonly denseLayers: readonly Dense[];
  /** Dropout rate after each dense layer (0: none). */
  readonly dropoutRates: readonly number[];
  /** The plan's node of each dense layer, and of the dropout after it (−1: none). */
  private readonly denseNodes: number[];
  private readonly dropoutNodes: number[];

  constructor(stack: (Dense | Dropout)[], options: SequentialOptions = {}) {
    const { layers, dropouts, graph } = chain(stack);
    super(graph, options);
    this.denseLayers = layers;
    this.dropoutRates = dropouts.map((layer) => layer?.rate ?? 0);
    const nodes = this.plan.nodes;
    this.denseNodes = layers.map((layer) => nodes.findIndex((node) => node.layer === layer));
    this.dropoutNodes = dropouts.map((layer) => (layer === undefined ? -1 : nodes.findIndex((node) => node.layer === layer)));
  }

  /** The dense layers (dropout is a property of the layer it follows: see dropoutRates). */
  override get layers(): readonly Dense[] {
    return this.denseLayers;
  }

  get inputSize(): number {
    return this.denseLayers[0].inputSize;
  }

  get outputSize(): number {
    return this.denseLayers[this.denseLayers.length - 1].outputSize;
  }

  /** "layers.<i>.weight" and "layers.<i>.bias", i the dense layer's index. */
  protected override parameterName(p: number): string {
    const parameter = this.plan.parameters[p];
    const layer = this.denseLayers.indexOf(this.plan.layers[parameter.layer] as Dense);
    return `layers.${layer}.${parameter.name.slice(parameter.name.lastIndexOf('.') + 1)}`;
  }

  /** "<i>.weight": the index nn.Sequential gives the Linear (see torchModuleIndices). */
  protected override torchName(p: number): string {
    const parameter = this.plan.parameters[p];
    const layer = this.denseLayers.indexOf(this.plan.layers[parameter.layer] as Dense);
    const indices = torchModuleIndices(sequentialArchitecture(this.denseLayers, this.dropoutRates));
    return `${indices[layer]}.${parameter.name.slice(parameter.name.lastIndexOf('.') + 1)}`;
  }

  /** @internal How errors about layer indices name the layers. */
  override get layersLabel(): string {
    return 'dense layers';
  }

  protected override describeNode(node: number): string {
    const dense = this.denseNodes.findIndex((n, i) => n === node || this.dropoutNodes[i] === node);
    return `layer ${dense}`;
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

  /** Freezes dense layers (all when no index is given): no gradients, no updates. Returns the model. */
  override freeze(...indices: number[]): this {
    for (const i of this.denseIndices(indices, 'freeze')) this.denseLayers[i].trainable = false;
    return this;
  }

  /** Makes dense layers trainable again (all when no index is given). Returns the model. */
  override unfreeze(...indices: number[]): this {
    for (const i of this.denseIndices(indices, 'unfreeze')) this.denseLayers[i].trainable = true;
    return this;
  }

  private denseIndices(indices: number[], what: string): number[] {
    if (indices.length === 0) return this.denseLayers.map((_, i) => i);
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= this.denseLayers.length) {
        throw new SimdpropError('OPTION', `${what}: ${describe(i)} is not a dense layer index (0 to ${this.denseLayers.length - 1})`);
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
    const phase = this.lastPhase;
    if (phase === 'none') throw new SimdpropError('ORDER', 'inspect() needs a forward() first');
    const f32 = this.backend.heap.f32;
    return this.denseLayers.map((layer, i) => {
      const n = this.lastBatch * layer.outputSize;
      const view = (offset: number): Float32Array => f32.subarray(offset >> 2, (offset >> 2) + n);
      const regions = this.nodeRegions(this.denseNodes[i]);
      const z = regions.saved.length > 0 ? regions.saved[0] : regions.output;
      const output = this.dropoutNodes[i] >= 0 ? this.nodeRegions(this.dropoutNodes[i]).output : regions.output;
      // dz is dL/da itself for a linear layer, else the layer's working gradient.
      const dz = layer.activation === 'linear' ? regions.outputGrad : regions.workGrad;
      return { layer: i, z: view(z), a: view(regions.output), output: view(output), ...(phase === 'backward' ? { dz: view(dz) } : {}) };
    });
  }

  /** A table of the layers, their shapes and parameter counts, and the memory the model holds. */
  override summary(): string {
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
    return JSON.stringify(sequentialArchitecture(this.denseLayers, this.dropoutRates));
  }

  /**
   * The model as safetensors bytes: tensors named and laid out like the equivalent PyTorch
   * nn.Sequential's state_dict ("0.weight" [out, in], "0.bias"), the architecture and simdprop's
   * version in the header's __metadata__; with { optimizer }, its state too (see Optimizer.loadState).
   */
  override save(options: SaveOptions = {}): Uint8Array {
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
  static override load(bytes: Uint8Array, options: LoadOptions = {}): Sequential {
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

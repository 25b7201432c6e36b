// A model as data: its graph as its file records it (every layer's settings, which layer reads which
// tensors), its parameters and buffers as PyTorch keeps them (name, shape, values in PyTorch's layout),
// reading them back with every name, dtype and shape checked first, and the graph rebuilt from a file.
import { SimdpropError, describe } from '../errors.js';
import { readGraphFile, type GraphRecord, type NamedTensor, type RandomState } from '../io/graph-file.js';
import { readInt64Tensor, readTensor, type ParsedFile } from '../io/safetensors.js';
import type { Layer } from '../layers/layer.js';
import { layerFromConfig, type LayerFactories } from '../layers/registry.js';
import type { Op, TorchLayout } from './op.js';
import { Plan, type PlanBuffer } from './plan.js';
import { input, type SymbolicTensor, type TensorForm, type Tensors } from './symbolic.js';

/** The graph of a plan as its file records it. */
export function describeGraph(
  plan: Plan, inputNames: readonly string[], outputNames: readonly string[], inputForm: TensorForm, outputForm: TensorForm,
): GraphRecord {
  const index = new Map<SymbolicTensor, number>();
  plan.symbols.forEach((symbol, i) => index.set(symbol, i));
  const nodes = plan.symbols.filter((symbol) => symbol.producer !== undefined).map((symbol) => ({
    layer: plan.layerIndexOf(symbol.producer!.op),
    inputs: symbol.producer!.inputs.map((tensor) => index.get(tensor)!),
  }));
  return {
    inputs: plan.inputs.map((t, i) => ({ name: inputNames[i], shape: [...plan.tensors[t].type.shape], dtype: plan.tensors[t].type.dtype })),
    layers: plan.layers.map((layer, l) => {
      const config = (layer as { config?: () => Record<string, unknown> }).config?.();
      if (config === undefined) throw new SimdpropError('FILE', `${layer.label} cannot be saved: its kind gives no settings to remake it from`);
      // A setting that is another layer of the model (the layer a head is tied to) is recorded by its index.
      const recorded = Object.fromEntries(Object.entries(config).map(([key, value]) => {
        const other = typeof value === 'object' && value !== null ? plan.layerIndexOf(value as Op) : -1;
        return [key, other >= 0 ? { layer: other } : value];
      }));
      return { kind: layer.kind, config: recorded, name: plan.layerNames[l] };
    }),
    nodes,
    outputs: plan.outputs.map((t, o) => ({ tensor: index.get(plan.tensors[t].symbol)!, name: outputNames[o] })),
    inputForm,
    outputForm,
  };
}

/**
 * Every parameter and buffer as PyTorch keeps it: name (`nameOf(p)` for parameter p), shape and
 * values in PyTorch's layout, from the params and buffers sections at float indices `params` and `buffers`.
 */
export function stateDict(plan: Plan, f32: Float32Array, params: number, buffers: number, nameOf: (p: number) => string): NamedTensor[] {
  return [
    ...plan.parameters.map((parameter, p) => ({
      name: nameOf(p), shape: parameter.torch?.shape ?? parameter.shape,
      data: toTorch(f32.subarray(params + parameter.start, params + parameter.start + parameter.size), parameter.shape, parameter.torch),
    })),
    ...plan.buffers.map((buffer) => ({
      name: buffer.name, shape: buffer.torch?.shape ?? buffer.shape,
      data: buffer.dtype === 'int64'
        ? int64View(f32, buffers, buffer).slice()
        : toTorch(f32.subarray(buffers + buffer.start, buffers + buffer.start + buffer.size), buffer.shape, buffer.torch),
    })),
  ];
}

/** An int64 buffer's elements where they lie in the buffers section at float index `buffers` (8-byte aligned: buffers start on 64 bytes). */
function int64View(f32: Float32Array, buffers: number, buffer: PlanBuffer): BigInt64Array {
  return new BigInt64Array(f32.buffer, f32.byteOffset + (buffers + buffer.start) * 4, buffer.size / 2);
}

/** A parameter's or buffer's values as read from a file, in simdprop's layout. */
export type StateValue = Float32Array | BigInt64Array;

/**
 * Reads every parameter and buffer of `plan` from the file (in simdprop's layout), checking names,
 * dtypes and shapes; `strict` refuses missing and unexpected tensors (a simdprop file's optimizer slots
 * are its own). Nothing is written: the caller writes the values once all are read.
 */
export function readState(
  plan: Plan, file: ParsedFile, nameOf: (p: number) => string, strict: boolean, simdpropFile: boolean,
): { values: (StateValue | undefined)[]; missing: string[]; unexpected: string[] } {
  // A tied parameter may be in the file under its own name, any of its aliases, or several of them (a
  // PyTorch state_dict lists a tied tensor under each name): they must then hold the same values.
  const wanted = [
    ...plan.parameters.map((parameter, p) => ({ name: nameOf(p), aliases: parameter.aliases, shape: parameter.shape, torch: parameter.torch, int64: false })),
    ...plan.buffers.map((buffer) => ({ name: buffer.name, aliases: [] as string[], shape: buffer.shape, torch: buffer.torch, int64: buffer.dtype === 'int64' })),
  ];
  const names = new Set(wanted.flatMap((w) => [w.name, ...w.aliases]));
  const present = (w: (typeof wanted)[number]): string[] => [w.name, ...w.aliases].filter((name) => file.tensors.has(name));
  const missing = wanted.filter((w) => present(w).length === 0).map((w) => w.name);
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
  const differing: string[] = [];
  const values = wanted.map((w) => {
    const found = present(w);
    if (found.length === 0) return undefined;
    const torchShape = w.torch?.shape ?? w.shape;
    for (const name of found) {
      const entry = file.tensors.get(name)!;
      if (entry.shape.length !== torchShape.length || entry.shape.some((d, i) => d !== torchShape[i])) {
        shapes.push(`${name} is [${entry.shape.join(', ')}], the model's is [${torchShape.join(', ')}]`);
        return undefined;
      }
    }
    if (w.int64) return readInt64Tensor(file, found[0], torchShape);
    const value = readTensor(file, found[0], torchShape);
    for (const name of found.slice(1)) {
      const other = readTensor(file, name, torchShape);
      if (other.some((x, i) => !Object.is(x, value[i]))) differing.push(`${found[0]} and ${name}`);
    }
    return fromTorch(value, w.shape, w.torch);
  });
  if (shapes.length > 0) throw new SimdpropError('FILE', `the state_dict's shapes do not fit the model: ${shapes.join('; ')}`);
  if (differing.length > 0) {
    throw new SimdpropError('FILE', `the state_dict holds tied tensors with different values: ${differing.join('; ')} are one parameter of the model`);
  }
  return { values, missing, unexpected };
}

/** Sets the parameters and buffers (in readState's order) that have a value. */
export function writeState(plan: Plan, f32: Float32Array, params: number, buffers: number, values: readonly (StateValue | undefined)[]): void {
  plan.parameters.forEach((parameter, p) => {
    if (values[p] !== undefined) f32.set(values[p] as Float32Array, params + parameter.start);
  });
  plan.buffers.forEach((buffer, b) => {
    const value = values[plan.parameters.length + b];
    if (value instanceof BigInt64Array) int64View(f32, buffers, buffer).set(value);
    else if (value !== undefined) f32.set(value, buffers + buffer.start);
  });
}

/**
 * The graph a file written by Model.save() holds, rebuilt (custom layers by `layers`), with its random
 * state and every parameter's and buffer's values, all checked before any model is made.
 */
export function rebuildGraph(bytes: Uint8Array, layers: LayerFactories | undefined): {
  inputs: Tensors; outputs: Tensors; random: RandomState; values: (StateValue | undefined)[]; layerNames: Map<Op, string>;
} {
  const { graph, random, file } = readGraphFile(bytes);
  // Layers are made in the order their settings need: one that names another ({ layer: index }, a tie) after it.
  const made: Layer[] = [];
  const making = new Set<number>();
  const make = (i: number): Layer => {
    if (made[i] !== undefined) return made[i];
    if (making.has(i)) throw new SimdpropError('FILE', `the file's layer ${i} refers to itself through the layers its settings name`);
    making.add(i);
    const record = graph.layers[i];
    const config = Object.fromEntries(Object.entries(record.config as Record<string, unknown>).map(([key, value]) => {
      const other = (value as { layer?: unknown } | null)?.layer;
      if (typeof value !== 'object' || value === null || Object.keys(value).length !== 1 || other === undefined) return [key, value];
      if (!(Number.isInteger(other) && (other as number) >= 0 && (other as number) < graph.layers.length)) {
        throw new SimdpropError('FILE', `the file's layer ${i} names layer ${describe(other)}, which the file does not have`);
      }
      return [key, make(other as number)];
    }));
    made[i] = layerFromConfig(record.kind, config, `the file's layer ${i}`, layers);
    return made[i];
  };
  graph.layers.forEach((_, i) => make(i));
  // The names the model gave its layers (a Sequential's indices among them), which its tensors are saved under.
  const layerNames = new Map<Op, string>();
  graph.layers.forEach((record, i) => {
    if (record.name !== undefined) layerNames.set(made[i], record.name);
  });
  const tensors: SymbolicTensor[] = graph.inputs.map((record) => input(record.shape, { dtype: record.dtype, name: record.name }));
  try {
    for (const node of graph.nodes) tensors.push(made[node.layer].apply(...node.inputs.map((t) => tensors[t])));
  } catch (error) {
    if (error instanceof SimdpropError) throw new SimdpropError('FILE', `the file's graph does not hold together: ${error.message.replace(/^simdprop: /, '')}`);
    throw error;
  }
  const inputList = tensors.slice(0, graph.inputs.length);
  const outputList = graph.outputs.map((output) => tensors[output.tensor]);
  const pick = (form: TensorForm, list: SymbolicTensor[], names: string[]): Tensors =>
    form === 'single' ? list[0] : form === 'array' ? list : Object.fromEntries(names.map((name, i) => [name, list[i]]));
  const plan = new Plan(inputList, outputList, graph.outputs.map((output) => output.name), layerNames);
  return {
    inputs: pick(graph.inputForm, inputList, graph.inputs.map((record) => record.name)),
    outputs: pick(graph.outputForm, outputList, graph.outputs.map((output) => output.name)),
    random,
    values: readState(plan, file, (p) => plan.parameters[p].name, true, true).values,
    layerNames,
  };
}

/** A tensor in PyTorch's layout: a copy, permuted where PyTorch keeps another order. */
export function toTorch(values: Float32Array, shape: readonly number[], torch: TorchLayout | undefined): Float32Array {
  if (torch === undefined) return values.slice();
  return permute(values, torch.view ?? shape, torch.order, false);
}

/** A tensor read in PyTorch's layout, in simdprop's. */
function fromTorch(values: Float32Array, shape: readonly number[], torch: TorchLayout | undefined): Float32Array {
  if (torch === undefined) return values;
  return permute(values, torch.view ?? shape, torch.order, true);
}

/**
 * The values of a row-major tensor of `shape` with its axes permuted (axis i of the result is axis
 * order[i]), or with `inverse`, the tensor that permutation made, back.
 */
function permute(values: Float32Array, shape: readonly number[], order: readonly number[], inverse: boolean): Float32Array {
  const rank = shape.length;
  // Strides of the source's axes, and the permuted shape the result's elements run over.
  const strides = new Array<number>(rank);
  for (let axis = rank - 1, stride = 1; axis >= 0; axis--) {
    strides[axis] = stride;
    stride *= shape[axis];
  }
  const permutedShape = order.map((axis) => shape[axis]);
  const permutedStrides = order.map((axis) => strides[axis]);
  const result = new Float32Array(values.length);
  const index = new Array<number>(rank).fill(0);
  for (let i = 0; i < values.length; i++) {
    let source = 0;
    for (let axis = 0; axis < rank; axis++) source += index[axis] * permutedStrides[axis];
    if (inverse) result[source] = values[i];
    else result[i] = values[source];
    for (let axis = rank - 1; axis >= 0 && ++index[axis] === permutedShape[axis]; axis--) index[axis] = 0;
  }
  return result;
}

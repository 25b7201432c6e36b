// A graph model's file: safetensors holding every parameter and buffer under its PyTorch name in
// PyTorch's layout (so torch's load_state_dict takes the file), with the graph — inputs, layers and
// their settings, which layer reads which tensors, outputs — as JSON in the metadata, from which
// Model.load() rebuilds it. Plain data in and out: the model builds itself.
import { SimdpropError, describe } from '../errors.js';
import { VERSION } from '../version.js';
import { parseSafetensors, writeSafetensors, type ParsedFile, type TensorEntry } from './safetensors.js';
import type { OptimizerState } from './sequential-file.js';

/** How a graph is written down. Tensors are numbered: the inputs first, then each node's output in order. */
export interface GraphRecord {
  inputs: { name: string; shape: number[]; dtype: 'float32' | 'int32' }[];
  /** Each layer's kind, settings, and the name the model gave it (its tensors' prefix). */
  layers: { kind: string; config: Record<string, unknown>; name?: string }[];
  nodes: { layer: number; inputs: number[] }[];
  outputs: { tensor: number; name: string }[];
  /** Whether the model was made with one input (output), an array or a record. */
  inputForm: 'single' | 'array' | 'record';
  outputForm: 'single' | 'array' | 'record';
}

/** A tensor as PyTorch keeps it: its name, shape and values (float32, or int64 for a counter). */
export interface NamedTensor {
  name: string;
  shape: readonly number[];
  data: Float32Array | BigInt64Array;
}

/** The model's seed and the dropout stream it has reached: a loaded model draws the masks the saved one would have. */
export interface RandomState {
  seed: number;
  stream: number;
}

export function writeGraphFile(
  graph: GraphRecord, tensors: readonly NamedTensor[], random: RandomState, optimizer: OptimizerState | undefined,
): Uint8Array {
  const entries: [string, TensorEntry][] = tensors.map((t) => [t.name, t.data instanceof BigInt64Array
    ? { dtype: 'I64', shape: [...t.shape], data: t.data }
    : { dtype: 'F32', shape: [...t.shape], data: t.data }]);
  const metadata: Record<string, string> = {
    format: 'simdprop-graph', version: VERSION, graph: JSON.stringify(graph), random: JSON.stringify(random),
  };
  if (optimizer) {
    metadata.optimizer = JSON.stringify(optimizer.metadata);
    optimizer.slots.forEach((slot, i) => entries.push([`optimizer.slot${i}`, { dtype: 'F32', shape: [slot.length], data: slot }]));
  }
  return writeSafetensors(entries, metadata);
}

const FORMS = ['single', 'array', 'record'];

/** The graph a file holds, checked for its structure (not yet for shapes: building the model checks those). */
export function readGraphFile(bytes: Uint8Array): { graph: GraphRecord; random: RandomState; file: ParsedFile } {
  const file = parseSafetensors(bytes);
  const text = file.metadata.graph;
  if (text === undefined) {
    throw new SimdpropError('FILE', file.metadata.architecture !== undefined
      ? 'the file holds a Sequential (its metadata has an architecture, not a graph): load it with Sequential.load()'
      : 'the file has no simdprop graph in its metadata: to load a PyTorch state_dict, build the model and call model.loadStateDict(bytes)');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SimdpropError('FILE', "the file's graph metadata is not JSON");
  }
  const bad = (what: string): never => {
    throw new SimdpropError('FILE', `the file's graph is not valid: ${what}`);
  };
  if (typeof parsed !== 'object' || parsed === null) bad('not an object');
  const graph = parsed as Partial<GraphRecord>;
  if (!Array.isArray(graph.inputs) || graph.inputs.length === 0) bad('no inputs');
  if (!Array.isArray(graph.layers) || !Array.isArray(graph.nodes) || !Array.isArray(graph.outputs) || graph.outputs.length === 0) bad('no layers, nodes or outputs');
  if (!FORMS.includes(graph.inputForm as string) || !FORMS.includes(graph.outputForm as string)) bad('no input or output form');
  graph.inputs!.forEach((input, i) => {
    if (typeof input !== 'object' || input === null || typeof input.name !== 'string' || !Array.isArray(input.shape) ||
      (input.dtype !== 'float32' && input.dtype !== 'int32')) bad(`input ${i} is ${describe(input)}`);
  });
  graph.layers!.forEach((layer, i) => {
    if (typeof layer !== 'object' || layer === null || typeof layer.kind !== 'string' || !(layer.name === undefined || typeof layer.name === 'string')) {
      bad(`layer ${i} is ${describe(layer)}`);
    }
  });
  let tensors = graph.inputs!.length;
  graph.nodes!.forEach((node, i) => {
    if (typeof node !== 'object' || node === null || !Number.isInteger(node.layer) || node.layer < 0 || node.layer >= graph.layers!.length ||
      !Array.isArray(node.inputs) || !node.inputs.every((t) => Number.isInteger(t) && t >= 0 && t < tensors)) {
      bad(`node ${i} is ${describe(node)}: it must name a layer and tensors made before it`);
    }
    tensors++;
  });
  graph.outputs!.forEach((output, i) => {
    if (typeof output !== 'object' || output === null || !Number.isInteger(output.tensor) || output.tensor < 0 || output.tensor >= tensors ||
      typeof output.name !== 'string') bad(`output ${i} is ${describe(output)}`);
  });
  let random: RandomState = { seed: 0, stream: 0 };
  if (file.metadata.random !== undefined) {
    try {
      random = JSON.parse(file.metadata.random);
    } catch {
      bad('its random state is not JSON');
    }
    if (!Number.isInteger(random?.seed) || !Number.isInteger(random?.stream) || random.stream < 0) bad(`its random state is ${describe(random)}`);
  }
  return { graph: graph as GraphRecord, random, file };
}

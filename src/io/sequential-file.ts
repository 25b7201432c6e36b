// A Sequential's file: safetensors whose tensor names and layouts are those of the equivalent PyTorch
// nn.Sequential — dense layer i is the Linear module at the index it would have there (each
// non-linear activation and each dropout is a module of its own), its weight stored [out, in] — with
// the stack's architecture in the metadata. Plain data in and out: Sequential builds the model.
import { ACTIVATIONS, type ActivationName } from '../activations.js';
import type { BackendName } from '../backend/backend.js';
import { SimdpropError, describe } from '../errors.js';
import type { Dense } from '../layers/dense.js';
import { VERSION } from '../version.js';
import { parseSafetensors, readTensor, writeSafetensors, type TensorEntry } from './safetensors.js';

/** An optimizer's state as a file holds it: its settings, and each state slot's floats. */
export interface OptimizerState {
  metadata: Record<string, unknown>;
  slots: Float32Array[];
}

export interface LayerRecord {
  inputSize: number;
  outputSize: number;
  activation: ActivationName;
  bias: boolean;
  negativeSlope: number;
  /** Dropout after the layer (0: none); files from before dropout existed have none. */
  dropout?: number;
}

/**
 * The nn.Sequential index of each dense layer: an activation other than linear takes an index after
 * its Linear, and so does a Dropout.
 */
export function torchModuleIndices(layers: readonly { activation: ActivationName; dropout?: number }[]): number[] {
  let index = 0;
  return layers.map(({ activation, dropout }) => {
    const at = index;
    index += 1 + (activation === 'linear' ? 0 : 1) + (dropout ? 1 : 0);
    return at;
  });
}

/** How PyTorch spells the activation module (for the file's description of the model). */
const TORCH_MODULES: Record<ActivationName, string> = {
  linear: '', relu: 'nn.ReLU()', leakyRelu: 'nn.LeakyReLU({slope})', sigmoid: 'nn.Sigmoid()', tanh: 'nn.Tanh()',
  gelu: "nn.GELU(approximate='tanh')", softmax: 'nn.Softmax(dim=1)',
};

function torchDescription(layers: readonly Dense[], dropoutRates: readonly number[]): string {
  const modules = layers.flatMap((layer, i) => {
    const linear = `nn.Linear(${layer.inputSize}, ${layer.outputSize}${layer.hasBias ? '' : ', bias=False'})`;
    const activation = TORCH_MODULES[layer.activation].replace('{slope}', String(layer.negativeSlope));
    return [linear, ...(activation ? [activation] : []), ...(dropoutRates[i] > 0 ? [`nn.Dropout(p=${dropoutRates[i]})`] : [])];
  });
  return `nn.Sequential(${modules.join(', ')})`;
}

export interface SaveOptions {
  /** Also save this optimizer's state (moments, step count, lr), for optimizer.loadState() to resume exactly. */
  optimizer?: { readonly model: unknown; stateForSaving(): OptimizerState };
}

/** The stack as the file's metadata records it. */
export function sequentialArchitecture(layers: readonly Dense[], dropoutRates: readonly number[]): LayerRecord[] {
  return layers.map((layer, i) => ({
    inputSize: layer.inputSize, outputSize: layer.outputSize, activation: layer.activation,
    bias: layer.hasBias, negativeSlope: layer.negativeSlope, dropout: dropoutRates[i],
  }));
}

/** The file of a stack whose parameters are `values` (weight, then bias, of each layer, in simdprop's layout). */
export function writeSequentialFile(
  layers: readonly Dense[], dropoutRates: readonly number[], values: readonly Float32Array[], optimizer: OptimizerState | undefined,
): Uint8Array {
  const architecture = sequentialArchitecture(layers, dropoutRates);
  const indices = torchModuleIndices(architecture);
  const tensors: [string, TensorEntry][] = [];
  let p = 0;
  layers.forEach((layer, i) => {
    const weight = values[p++];
    // simdprop keeps W as [in, out]; PyTorch's Linear keeps [out, in].
    const transposed = new Float32Array(layer.weightCount);
    for (let r = 0; r < layer.inputSize; r++) {
      for (let c = 0; c < layer.outputSize; c++) transposed[c * layer.inputSize + r] = weight[r * layer.outputSize + c];
    }
    tensors.push([`${indices[i]}.weight`, { dtype: 'F32', shape: [layer.outputSize, layer.inputSize], data: transposed }]);
    if (layer.hasBias) tensors.push([`${indices[i]}.bias`, { dtype: 'F32', shape: [layer.outputSize], data: values[p++].slice() }]);
  });
  const metadata: Record<string, string> = {
    format: 'simdprop', version: VERSION, architecture: JSON.stringify(architecture), pytorch: torchDescription(layers, dropoutRates),
  };
  if (optimizer) {
    metadata.optimizer = JSON.stringify(optimizer.metadata);
    optimizer.slots.forEach((slot, i) => tensors.push([`optimizer.slot${i}`, { dtype: 'F32', shape: [slot.length], data: slot }]));
  }
  return writeSafetensors(tensors, metadata);
}

export interface LoadOptions {
  backend?: BackendName;
  /**
   * The activation after each Linear, for files without simdprop's metadata (e.g. saved by PyTorch),
   * which name only tensors. Default: none, which fits a file whose Linear modules are consecutive.
   */
  activations?: ActivationName[];
  /** Likewise the dropout rate after each Linear (0 for none), for files without simdprop's metadata. */
  dropout?: number[];
}

function checkRecord(value: unknown, i: number): LayerRecord {
  const record = value as Partial<LayerRecord> | null;
  const sizeOk = (size: unknown): boolean => Number.isInteger(size) && (size as number) > 0 && (size as number) < 2 ** 26;
  if (typeof record !== 'object' || record === null || !sizeOk(record.inputSize) || !sizeOk(record.outputSize)
    || !ACTIVATIONS.includes(record.activation as ActivationName) || typeof record.bias !== 'boolean'
    || typeof record.negativeSlope !== 'number'
    || (record.dropout !== undefined && !(typeof record.dropout === 'number' && record.dropout >= 0 && record.dropout < 1))) {
    // describe(), not JSON.stringify: a hostile file may nest values deeper than the stack allows.
    throw new SimdpropError('FILE', `the file's architecture has a bad layer ${i}: ${describe(value)}`);
  }
  return record as LayerRecord;
}

// The layers from simdprop's metadata, or, for a file without it, from the Linear tensors' names.
function architectureOf(file: ReturnType<typeof parseSafetensors>, options: LoadOptions): LayerRecord[] {
  if (file.metadata.architecture !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(file.metadata.architecture);
    } catch {
      throw new SimdpropError('FILE', 'the file\'s architecture metadata is not JSON');
    }
    if (!Array.isArray(parsed) || parsed.length === 0) throw new SimdpropError('FILE', 'the file\'s architecture lists no layers');
    return parsed.map(checkRecord);
  }
  const linear = [...file.tensors.keys()]
    .map((name) => /^(\d+)\.weight$/.exec(name))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => Number(match[1]))
    .sort((a, b) => a - b);
  if (linear.length === 0) throw new SimdpropError('FILE', 'the file has neither simdprop metadata nor any "<index>.weight" tensor');
  const activations = options.activations ?? linear.map(() => 'linear' as ActivationName);
  if (activations.length !== linear.length) {
    throw new SimdpropError('OPTION', `the file has ${linear.length} Linear layers, but ${activations.length} activations were given`);
  }
  const dropout = options.dropout ?? activations.map(() => 0);
  if (dropout.length !== linear.length) {
    throw new SimdpropError('OPTION', `the file has ${linear.length} Linear layers, but ${dropout.length} dropout rates were given`);
  }
  const expected = torchModuleIndices(activations.map((activation, i) => ({ activation, dropout: dropout[i] })));
  if (expected.some((index, i) => index !== linear[i])) {
    throw new SimdpropError('FILE',
      `the file's Linear modules sit at nn.Sequential indices ${linear.join(', ')}, but these activations put them at ` +
      `${expected.join(', ')}: pass { activations: [...] } naming the activation after each Linear (and { dropout: [...] })`);
  }
  return linear.map((index, i) => {
    const shape = file.tensors.get(`${index}.weight`)!.shape;
    if (shape.length !== 2) throw new SimdpropError('FILE', `tensor "${index}.weight" has shape [${shape.join(', ')}], expected [out, in]`);
    return {
      inputSize: shape[1], outputSize: shape[0], activation: activations[i], bias: file.tensors.has(`${index}.bias`),
      negativeSlope: 0.01, dropout: dropout[i],
    };
  });
}

/**
 * The stack a file describes and its parameters, each checked before anything is made: the layers'
 * records, and each weight (in simdprop's [in, out]) and bias in order.
 */
export function readSequentialFile(bytes: Uint8Array, options: LoadOptions = {}): { records: LayerRecord[]; values: Float32Array[] } {
  const file = parseSafetensors(bytes);
  const records = architectureOf(file, options);
  records.forEach((record, i) => {
    if (i > 0 && record.inputSize !== records[i - 1].outputSize) {
      throw new SimdpropError('FILE', `the file's layer ${i} takes ${record.inputSize} inputs but layer ${i - 1} gives ${records[i - 1].outputSize}`);
    }
  });
  const indices = torchModuleIndices(records);
  // Every tensor is read and checked before the model is made: a bad file allocates no model.
  const stored = records.map((record, i) => ({
    weight: readTensor(file, `${indices[i]}.weight`, [record.outputSize, record.inputSize]),
    bias: record.bias ? readTensor(file, `${indices[i]}.bias`, [record.outputSize]) : undefined,
  }));
  const known = new Set(records.flatMap((record, i) => (record.bias ? [`${indices[i]}.weight`, `${indices[i]}.bias`] : [`${indices[i]}.weight`])));
  const unknown = [...file.tensors.keys()].filter((name) => !known.has(name) && !name.startsWith('optimizer.'));
  if (unknown.length > 0) throw new SimdpropError('FILE', `the file has tensors this architecture does not use: ${unknown.join(', ')}`);
  const values = records.flatMap((record, i) => {
    // PyTorch's Linear keeps [out, in]; simdprop keeps [in, out].
    const weight = new Float32Array(record.inputSize * record.outputSize);
    const source = stored[i].weight;
    for (let r = 0; r < record.inputSize; r++) {
      for (let c = 0; c < record.outputSize; c++) weight[r * record.outputSize + c] = source[c * record.inputSize + r];
    }
    return stored[i].bias ? [weight, stored[i].bias!] : [weight];
  });
  return { records, values };
}

/** More state slots than any optimizer keeps (RMSprop, centered with momentum, keeps 3). */
const MAX_STATE_SLOTS = 8;

/**
 * The optimizer state in a model file (a stack's or a graph's): its settings and slots, each checked
 * against the model's architecture (as its file records it) and its block's section of `sectionFloats` floats.
 */
export function readOptimizerState(bytes: Uint8Array, architecture: string, sectionFloats: number): { kind: string; stepCount: number; lr: number; slots: Float32Array[] } {
  const file = parseSafetensors(bytes);
  if (file.metadata.optimizer === undefined) throw new SimdpropError('FILE', 'the file holds no optimizer state: save it with model.save({ optimizer })');
  // A graph's file records its graph; a stack's, its architecture.
  if ((file.metadata.graph ?? file.metadata.architecture) !== architecture) {
    throw new SimdpropError('FILE', `the file's optimizer state is for another architecture (${file.metadata.pytorch ?? 'unknown'}), not this model's`);
  }
  let saved: { kind?: unknown; stepCount?: unknown; lr?: unknown; slots?: unknown };
  try {
    saved = JSON.parse(file.metadata.optimizer);
  } catch {
    throw new SimdpropError('FILE', 'the file\'s optimizer metadata is not JSON');
  }
  const { kind, stepCount, lr, slots } = saved;
  if (typeof kind !== 'string' || !Number.isInteger(stepCount) || (stepCount as number) < 0
    || typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0
    || !Number.isInteger(slots) || (slots as number) < 0 || (slots as number) > MAX_STATE_SLOTS) {
    throw new SimdpropError('FILE', `the file's optimizer metadata is not valid (kind, stepCount ≥ 0, lr ≥ 0, 0–${MAX_STATE_SLOTS} slots): ` +
      file.metadata.optimizer.slice(0, 200));
  }
  const values = Array.from({ length: slots as number }, (_, i) => readTensor(file, `optimizer.slot${i}`, [sectionFloats]));
  return { kind, stepCount: stepCount as number, lr, slots: values };
}

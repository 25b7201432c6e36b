// Saving and loading a Sequential as safetensors. Tensor names and layouts are those of the
// equivalent PyTorch nn.Sequential: dense layer i is the Linear module at the index it would have
// there (each non-linear activation is a module of its own), its weight stored [out, in].
import { ACTIVATIONS, type ActivationName } from '../activations.js';
import type { BackendName } from '../backend/backend.js';
import { SimdpropError } from '../errors.js';
import { Dense } from '../layers/dense.js';
import { Sequential } from '../sequential.js';
import { VERSION } from '../version.js';
import { parseSafetensors, readTensor, writeSafetensors, type TensorEntry } from './safetensors.js';

interface LayerRecord {
  inputSize: number;
  outputSize: number;
  activation: ActivationName;
  bias: boolean;
  negativeSlope: number;
}

/** The nn.Sequential index of each dense layer: activations other than linear take an index too. */
export function torchModuleIndices(activations: readonly ActivationName[]): number[] {
  let index = 0;
  return activations.map((activation) => {
    const at = index;
    index += activation === 'linear' ? 1 : 2;
    return at;
  });
}

/** How PyTorch spells the activation module (for the file's description of the model). */
const TORCH_MODULES: Record<ActivationName, string> = {
  linear: '', relu: 'nn.ReLU()', leakyRelu: 'nn.LeakyReLU({slope})', sigmoid: 'nn.Sigmoid()', tanh: 'nn.Tanh()',
  gelu: "nn.GELU(approximate='tanh')", softmax: 'nn.Softmax(dim=1)',
};

export function torchDescription(layers: readonly Dense[]): string {
  const modules = layers.flatMap((layer) => {
    const linear = `nn.Linear(${layer.inputSize}, ${layer.outputSize}${layer.hasBias ? '' : ', bias=False'})`;
    const activation = TORCH_MODULES[layer.activation].replace('{slope}', String(layer.negativeSlope));
    return activation ? [linear, activation] : [linear];
  });
  return `nn.Sequential(${modules.join(', ')})`;
}

export function saveModel(model: Sequential): Uint8Array {
  const indices = torchModuleIndices(model.layers.map((layer) => layer.activation));
  const parameters = model.namedParameters();
  const tensors: [string, TensorEntry][] = [];
  let p = 0;
  model.layers.forEach((layer, i) => {
    const weight = parameters[p++].value;
    // simdprop keeps W as [in, out]; PyTorch's Linear keeps [out, in].
    const transposed = new Float32Array(layer.weightCount);
    for (let r = 0; r < layer.inputSize; r++) {
      for (let c = 0; c < layer.outputSize; c++) transposed[c * layer.inputSize + r] = weight[r * layer.outputSize + c];
    }
    tensors.push([`${indices[i]}.weight`, { dtype: 'F32', shape: [layer.outputSize, layer.inputSize], data: transposed }]);
    if (layer.hasBias) tensors.push([`${indices[i]}.bias`, { dtype: 'F32', shape: [layer.outputSize], data: parameters[p++].value.slice() }]);
  });
  const architecture: LayerRecord[] = model.layers.map((layer) => ({
    inputSize: layer.inputSize, outputSize: layer.outputSize, activation: layer.activation,
    bias: layer.hasBias, negativeSlope: layer.negativeSlope,
  }));
  return writeSafetensors(tensors, {
    format: 'simdprop', version: VERSION, architecture: JSON.stringify(architecture), pytorch: torchDescription(model.layers),
  });
}

export interface LoadOptions {
  backend?: BackendName;
  /**
   * The activation after each Linear, for files without simdprop's metadata (e.g. saved by PyTorch),
   * which name only tensors. Default: none, which fits a file whose Linear modules are consecutive.
   */
  activations?: ActivationName[];
}

function checkRecord(value: unknown, i: number): LayerRecord {
  const record = value as Partial<LayerRecord> | null;
  const sizeOk = (size: unknown): boolean => Number.isInteger(size) && (size as number) > 0 && (size as number) < 2 ** 26;
  if (typeof record !== 'object' || record === null || !sizeOk(record.inputSize) || !sizeOk(record.outputSize)
    || !ACTIVATIONS.includes(record.activation as ActivationName) || typeof record.bias !== 'boolean'
    || typeof record.negativeSlope !== 'number') {
    throw new SimdpropError('FILE', `the file's architecture has a bad layer ${i}: ${JSON.stringify(value)}`);
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
  const expected = torchModuleIndices(activations);
  if (expected.some((index, i) => index !== linear[i])) {
    throw new SimdpropError('FILE',
      `the file's Linear modules sit at nn.Sequential indices ${linear.join(', ')}, but these activations put them at ` +
      `${expected.join(', ')}: pass { activations: [...] } naming the activation after each Linear`);
  }
  return linear.map((index, i) => {
    const shape = file.tensors.get(`${index}.weight`)!.shape;
    if (shape.length !== 2) throw new SimdpropError('FILE', `tensor "${index}.weight" has shape [${shape.join(', ')}], expected [out, in]`);
    return { inputSize: shape[1], outputSize: shape[0], activation: activations[i], bias: file.tensors.has(`${index}.bias`), negativeSlope: 0.01 };
  });
}

export function loadModel(bytes: Uint8Array, options: LoadOptions = {}): Sequential {
  const file = parseSafetensors(bytes);
  const records = architectureOf(file, options);
  const indices = torchModuleIndices(records.map((record) => record.activation));
  // Every tensor is read and checked before the model is made: a bad file allocates no model.
  const values = records.map((record, i) => ({
    weight: readTensor(file, `${indices[i]}.weight`, [record.outputSize, record.inputSize]),
    bias: record.bias ? readTensor(file, `${indices[i]}.bias`, [record.outputSize]) : undefined,
  }));
  const known = new Set(records.flatMap((record, i) => (record.bias ? [`${indices[i]}.weight`, `${indices[i]}.bias`] : [`${indices[i]}.weight`])));
  const unknown = [...file.tensors.keys()].filter((name) => !known.has(name));
  if (unknown.length > 0) throw new SimdpropError('FILE', `the file has tensors this architecture does not use: ${unknown.join(', ')}`);
  const layers = records.map((record) => new Dense(record.inputSize, record.outputSize, record.activation, {
    bias: record.bias, negativeSlope: record.negativeSlope,
  }));
  const model = new Sequential(layers, { backend: options.backend });
  const parameters = model.namedParameters();
  let p = 0;
  records.forEach((record, i) => {
    const weight = parameters[p++].value;
    const stored = values[i].weight;
    for (let r = 0; r < record.inputSize; r++) {
      for (let c = 0; c < record.outputSize; c++) weight[r * record.outputSize + c] = stored[c * record.inputSize + r];
    }
    if (record.bias) parameters[p++].value.set(values[i].bias!);
  });
  return model;
}

// Property tests of model files: valid files saved by random small models, then truncated, bit-flipped
// (length, header or data), overwritten, spliced, given another header length, or with their header's
// fields (the JSON inside the metadata's strings included) replaced, renamed, deleted or nested 20,000
// deep; and headers made up whole. Loading one either fails with a SimdpropError of code FILE, TYPE or
// OPTION, having allocated nothing, or gives a model no larger than the file whose predictions are finite
// where its weights bound them, and, where only data bytes changed, are those of the original model with
// exactly the changed floats. optimizer.loadState() obeys the same rules and never leaves state no
// optimizer constructor would accept.
// Replay a run: SIMDPROP_FUZZ_SEED=<seed it printed> npx vitest run test/fuzz/model-files.fuzz.test.ts
// One failing case alone: add SIMDPROP_FUZZ_PATH=<path in the failure> and -t '<the property's name>'.
import fc from 'fast-check';
import { assert, describe, expect, it } from 'vitest';
import {
  ACTIVATIONS, Adam, AdamW, dense, dropout, getBackend, init, RMSprop, Sequential, SGD, SimdpropError,
  type BackendName, type Optimizer,
} from '../../src/index.js';
import { createRandom } from '../random.js';
import { announceSeed, check } from './fuzz.js';

const FILE = 'test/fuzz/model-files.fuzz.test.ts';
announceSeed(FILE);
await init({ backend: 'wasm', threads: 1 });

const ALLOWED_CODES = ['FILE', 'TYPE', 'OPTION'];

// ---- the valid files mutations start from ----

const OPTIMIZERS = {
  none: undefined,
  SGD: (model: Sequential) => new SGD(model, { lr: 0.1, momentum: 0.9 }),
  Adam: (model: Sequential) => new Adam(model, { lr: 1e-3 }),
  AdamW: (model: Sequential) => new AdamW(model, { lr: 1e-3 }),
  RMSprop: (model: Sequential) => new RMSprop(model, { lr: 1e-2, momentum: 0.5, centered: true }),
};
type OptimizerKind = keyof typeof OPTIMIZERS;

const modelSpec = fc.record({
  widths: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 4 }),
  layers: fc.array(fc.record({
    activation: fc.constantFrom(...ACTIVATIONS),
    bias: fc.boolean(),
    negativeSlope: fc.oneof(fc.constant(0.01), fc.double({ min: 0, max: 1, noNaN: true })),
    dropout: fc.oneof(fc.constant(0), fc.double({ min: 0.05, max: 0.9, noNaN: true })),
  }), { minLength: 3, maxLength: 3 }),
  optimizer: fc.constantFrom<OptimizerKind>('none', 'SGD', 'Adam', 'AdamW', 'RMSprop'),
  seed: fc.nat(),
});
type ModelSpec = typeof modelSpec extends fc.Arbitrary<infer T> ? T : never;

/** The model's file, after one training step when it saves an optimizer's state (so that the state is not all zeros). */
function savedFile(spec: ModelSpec): Uint8Array {
  const stack = spec.widths.slice(1).flatMap((outputs, i) => {
    const { activation, bias, negativeSlope, dropout: rate } = spec.layers[i];
    const layer = dense(spec.widths[i], outputs, activation, { bias, negativeSlope });
    return rate > 0 ? [layer, dropout(rate)] : [layer];
  });
  const model = new Sequential(stack, { seed: spec.seed, backend: 'js' });
  try {
    const makeOptimizer = OPTIMIZERS[spec.optimizer];
    if (!makeOptimizer) return model.save();
    const optimizer = makeOptimizer(model);
    const x = probe(model.inputSize, 2);
    model.trainStep(x, new Float32Array(2 * model.outputSize).fill(0.5), { loss: 'mse', optimizer });
    return model.save({ optimizer });
  } finally {
    model.dispose();
  }
}

/** `rows` rows of inputs in [−1, 1], the same for every model of that width. */
function probe(inputSize: number, rows: number): Float32Array {
  const random = createRandom(`probe ${inputSize}`);
  return Float32Array.from({ length: rows * inputSize }, () => 2 * random() - 1);
}

function headerLength(bytes: Uint8Array): number {
  return Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
}

// ---- headers as trees: the metadata's JSON strings (architecture, optimizer) parsed as nodes of their own ----

/** A string of the header that holds JSON itself. */
class Embedded {
  constructor(public value: unknown) {}
}
/** JSON text put in as it is (what JSON.stringify could not write: 20,000 levels of nesting). */
class Raw {
  constructor(readonly text: string) {}
}

function parseTree(value: unknown): unknown {
  if (typeof value === 'string' && /^\s*[[{]/.test(value)) {
    try {
      return new Embedded(parseTree(JSON.parse(value)));
    } catch {
      return value;
    }
  }
  if (Array.isArray(value)) return value.map(parseTree);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, parseTree(v)]));
  return value;
}

function serialize(node: unknown): string {
  if (node instanceof Raw) return node.text;
  if (node instanceof Embedded) return JSON.stringify(serialize(node.value));
  if (Array.isArray(node)) return `[${node.map(serialize).join(',')}]`;
  if (typeof node === 'object' && node !== null) {
    return `{${Object.entries(node).map(([key, value]) => `${JSON.stringify(key)}:${serialize(value)}`).join(',')}}`;
  }
  return JSON.stringify(node) ?? 'null';
}

/** Every place in the tree a value sits at: its container and key. */
function places(node: unknown, found: { container: Record<string, unknown> | unknown[]; key: string | number }[] = []) {
  const inner = node instanceof Embedded ? node.value : node;
  if (Array.isArray(inner)) {
    inner.forEach((child, i) => {
      found.push({ container: inner, key: i });
      places(child, found);
    });
  } else if (typeof inner === 'object' && inner !== null && !(inner instanceof Raw)) {
    for (const [key, child] of Object.entries(inner)) {
      found.push({ container: inner as Record<string, unknown>, key });
      places(child, found);
    }
  }
  return found;
}

// ---- mutations ----

/** Values a field may be replaced with: the edges of every type the loader reads, and any JSON. */
const fieldValue = fc.oneof(
  fc.constantFrom(
    0, -1, 1, 2, 0.5, -0.5, 2 ** 26, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), 1e300, -1e300, 1e-300, null, true, false,
    '', 'F32', 'F16', 'F64', 'I32', 'BF16', 'relu', 'leakyRelu', 'softmax', 'linear', 'SGD', 'Adam', 'RMSprop',
    [], {}, [0], [1], [1, 1], [0, 0], [-1, 4], [4, -1], [0, 1e300], [1e300, 0], [2 ** 53, 2 ** 53 + 4],
  ),
  fc.integer(),
  fc.double(),
  fc.jsonValue({ maxDepth: 2 }),
);

/** Names a renamed key may take: tensors of other layers, optimizer slots, the metadata's own keys, anything. */
const keyName = fc.oneof(
  fc.constantFrom('0.weight', '0.bias', '1.weight', '2.weight', '2.bias', '3.weight', '9.weight', 'optimizer.slot0',
    'optimizer.slot7', '__metadata__', 'architecture', 'optimizer', 'inputSize', 'outputSize', 'shape', 'dtype',
    'data_offsets', 'stepCount', 'slots', 'lr', 'kind', 'dropout', '__proto__', 'constructor'),
  fc.string({ maxLength: 12 }),
);

/** Up to eight positions in a region (taken modulo its length) and the byte each gets. */
const edits = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
const region = fc.constantFrom('length', 'header', 'data', 'anywhere');

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip bits' as const), region, flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('set bytes' as const), region, edits }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), remove: fc.integer({ min: 0, max: 16 }), insert: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({
    kind: fc.constant('header length' as const),
    value: fc.oneof(fc.integer({ min: -16, max: 16 }).map((d) => ({ offset: d })), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => ({ value: v }))),
  }),
  fc.record({
    kind: fc.constant('field' as const),
    // Any field of the header, or one of the architecture's or the optimizer state's (JSON in metadata strings).
    scope: fc.constantFrom('header', 'architecture', 'optimizer'),
    at: fc.nat(),
    action: fc.constantFrom('replace', 'delete', 'rename', 'nest deep', 'add'),
    value: fieldValue,
    key: keyName,
    depth: fc.oneof(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1000, max: 20_000 })),
    // The length the file declares for its new header: its own, or a few bytes off.
    lengthOffset: fc.oneof(fc.constant(0), fc.integer({ min: -4, max: 4 })),
  }),
  fc.record({ kind: fc.constant('strip metadata' as const), activations: fc.boolean() }),
  fc.record({ kind: fc.constant('random bytes' as const), bytes: fc.uint8Array({ maxLength: 300 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

/** A new file: the header text, its declared length (default its own), and data. */
function fileOf(headerText: string, data: Uint8Array, declared?: bigint): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const bytes = new Uint8Array(8 + json.length + data.length);
  new DataView(bytes.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  bytes.set(json, 8);
  bytes.set(data, 8 + json.length);
  return bytes;
}

interface Mutated {
  bytes: Uint8Array;
  /** Where only data bytes changed: the byte offsets within the data section that did. */
  changedData?: number[];
  /** Options for Sequential.load (the activations of a file stripped of its metadata). */
  options?: { activations: (typeof ACTIVATIONS)[number][] };
}

function mutate(original: Uint8Array, m: Mutation, spec: ModelSpec): Mutated {
  const dataStart = 8 + headerLength(original);
  const bytes = original.slice();
  const regionOf = (name: string): [number, number] =>
    name === 'length' ? [0, 8] : name === 'header' ? [8, dataStart] : name === 'data' ? [dataStart, bytes.length] : [0, bytes.length];
  switch (m.kind) {
    case 'truncate':
      return { bytes: original.slice(0, m.at % original.length) };
    case 'flip bits':
    case 'set bytes': {
      const [start, end] = regionOf(m.region);
      const changes = m.kind === 'flip bits' ? m.flips.map(([at, bit]) => [at, 1 << bit]) : m.edits;
      for (const [at, value] of changes) {
        const position = start + (at % (end - start));
        bytes[position] = m.kind === 'flip bits' ? bytes[position] ^ value : value;
      }
      if (m.region !== 'data') return { bytes };
      const changedData = [...new Set(changes.map(([at]) => at % (end - start)))].filter((at) => bytes[dataStart + at] !== original[dataStart + at]);
      return { bytes, changedData };
    }
    case 'splice': {
      const at = m.at % (original.length + 1);
      return { bytes: Uint8Array.from([...original.subarray(0, at), ...m.insert, ...original.subarray(at + m.remove)]) };
    }
    case 'header length': {
      const value = 'offset' in m.value ? BigInt(Math.max(0, dataStart - 8 + m.value.offset)) : m.value.value;
      new DataView(bytes.buffer).setBigUint64(0, value, true);
      return { bytes };
    }
    case 'field': {
      const tree = parseTree(JSON.parse(new TextDecoder().decode(original.subarray(8, dataStart)))) as Record<string, unknown>;
      const scoped = m.scope === 'header' ? [] : places((tree.__metadata__ as Record<string, unknown>)[m.scope]);
      const all = scoped.length > 0 ? scoped : places(tree);
      const { container, key } = all[m.at % all.length];
      const entries = container as Record<string | number, unknown>;
      // An own property whatever the key ("__proto__" included), as JSON.parse makes them.
      const put = (name: string | number, value: unknown): void => {
        Object.defineProperty(entries, name, { value, enumerable: true, writable: true, configurable: true });
      };
      if (m.action === 'replace') put(key, m.value);
      else if (m.action === 'nest deep') put(key, new Raw('['.repeat(m.depth) + ']'.repeat(m.depth)));
      else if (m.action === 'delete' && Array.isArray(container)) container.splice(key as number, 1);
      else if (m.action === 'delete') delete entries[key];
      else if (m.action === 'add' && Array.isArray(container)) container.push(m.value);
      else if (m.action === 'add') put(m.key, m.value);
      else if (Array.isArray(container)) container.splice(key as number, 0, m.value); // "rename" in an array: an element more
      else {
        // Rename: the value under another key, where the key was.
        const renamed = Object.entries(container).map(([k, v]): [string, unknown] => (k === key ? [m.key, v] : [k, v]));
        for (const k of Object.keys(container)) delete entries[k];
        for (const [k, v] of renamed) put(k, v);
      }
      const text = serialize(tree);
      const declared = BigInt(Math.max(0, new TextEncoder().encode(text).length + m.lengthOffset));
      return { bytes: fileOf(text, original.subarray(dataStart), declared) };
    }
    case 'strip metadata': {
      const header = JSON.parse(new TextDecoder().decode(original.subarray(8, dataStart)));
      delete header.__metadata__;
      const activations = spec.widths.slice(1).map((_, i) => spec.layers[i].activation);
      return { bytes: fileOf(JSON.stringify(header), original.subarray(dataStart)), ...(m.activations ? { options: { activations } } : {}) };
    }
    case 'random bytes':
      return { bytes: m.bytes };
  }
}

// ---- made-up headers: tensors named like a model's, with sizes that fit (or nearly) and random data ----

// Mostly what a PyTorch file of Linear layers holds: "<i>.weight" [out, in] and "<i>.bias" [out] in F32,
// i counting up (undefined: the entry's position), sized as their shapes say; sometimes anything else.
const tensorEntry = fc.record({
  index: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, fc.nat({ max: 4 }), fc.integer()),
  kind: fc.constantFrom('weight', 'weight', 'weight', 'bias', 'other'),
  dtype: fc.oneof({ weight: 4, arbitrary: fc.constant('F32') }, fc.constantFrom('F16', 'F64', 'I32', 'BF16', 'f32', '')),
  shape: fc.oneof(
    { weight: 4, arbitrary: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 2, maxLength: 2 }) },
    fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 1 }),
    fc.array(fc.nat({ max: 6 }), { maxLength: 3 }),
    fc.array(fc.integer(), { maxLength: 3 }),
  ),
  // How many bytes the tensor claims beyond its shape's (0: a consistent entry).
  extraBytes: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, fc.integer({ min: -8, max: 8 })),
});

const madeUpFile = fc.record({
  tensors: fc.array(tensorEntry, { maxLength: 5 }),
  metadata: fc.oneof(
    fc.constant(undefined),
    fc.record({
      architecture: fc.array(fc.record({
        inputSize: fc.oneof(fc.nat({ max: 6 }), fc.integer()),
        outputSize: fc.oneof(fc.nat({ max: 6 }), fc.integer()),
        activation: fc.oneof(fc.constantFrom(...ACTIVATIONS), fc.string({ maxLength: 8 })),
        bias: fc.oneof(fc.boolean(), fc.constant(null)),
        negativeSlope: fc.oneof(fc.constant(0.01), fc.double()),
        dropout: fc.oneof(fc.constant(0), fc.double()),
      }, { requiredKeys: [] }), { maxLength: 4 }).map((records) => JSON.stringify(records)),
    }),
  ),
  activations: fc.option(fc.array(fc.constantFrom(...ACTIVATIONS), { maxLength: 4 }), { nil: undefined }),
  data: fc.uint8Array({ maxLength: 64 }),
});

function madeUp(file: typeof madeUpFile extends fc.Arbitrary<infer T> ? T : never): Mutated {
  const header: Record<string, unknown> = file.metadata ? { __metadata__: file.metadata } : {};
  const chunks: Uint8Array[] = [];
  let offset = 0;
  let layer = 0;
  for (const tensor of file.tensors) {
    const count = tensor.shape.reduce((a, b) => a * b, 1);
    const bytes = Number.isSafeInteger(count) && count >= 0 && count <= 256 ? Math.max(0, count * 4 + tensor.extraBytes) : tensor.extraBytes & 63;
    const index = tensor.index ?? (tensor.kind === 'weight' ? layer++ : Math.max(0, layer - 1));
    const name = tensor.kind === 'other' ? `optimizer.slot${index}` : `${index}.${tensor.kind}`;
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes] };
    chunks.push(file.data.slice(0, bytes), new Uint8Array(Math.max(0, bytes - file.data.length)));
    offset += bytes;
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }
  return { bytes: fileOf(JSON.stringify(header), data), ...(file.activations ? { options: { activations: file.activations } } : {}) };
}

// ---- what every load must do ----

/** Whether two float arrays hold the same values, any NaN matching any NaN. */
function sameValues(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((value, i) => Object.is(value, b[i]) || (Number.isNaN(value) && Number.isNaN(b[i])));
}

/** Fails unless `error` is a SimdpropError with a code a bad file may give; returns it. */
function expectFileError(error: unknown, what: string): SimdpropError {
  if (!(error instanceof SimdpropError)) {
    assert.fail(`${what}: threw ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}, not a SimdpropError`);
  }
  if (!ALLOWED_CODES.includes(error.code)) assert.fail(`${what}: threw ${error.code} (${error.message}), not FILE, TYPE or OPTION`);
  return error;
}

/**
 * An upper bound of the largest |prediction| for inputs in [−1, 1], from the weights: each layer's input
 * count times its largest |weight| and its inputs' bound, plus its largest |bias|, through an activation
 * that grows at most max(1.2, slope) times (gelu by 1.13) or is bounded by 1 (when its inputs are finite:
 * softmax of an infinite input is NaN). predict() applies no dropout. Infinity where a parameter is NaN
 * or infinite, or where a layer's pre-activations or outputs may pass 1e30 (a slope of 1e300 is a finite
 * double that Dense accepts, and Infinity as the kernels' float32).
 */
function outputBound(model: Sequential): number {
  const largest = (values: Float32Array): number => values.reduce((most, v) => Math.max(most, Number.isFinite(v) ? Math.abs(v) : Infinity), 0);
  const parameters = model.namedParameters();
  if (parameters.some(({ value }) => largest(value) === Infinity)) return Infinity;
  let bound = 1;
  let p = 0;
  for (const layer of model.layers) {
    let z = layer.inputSize * largest(parameters[p++].value) * bound;
    if (layer.hasBias) z += largest(parameters[p++].value);
    if (!(z < 1e30)) return Infinity;
    bound = ['sigmoid', 'tanh', 'softmax'].includes(layer.activation) ? 1 : z * Math.max(1.2, layer.negativeSlope);
    if (!(bound < 1e30)) return Infinity;
  }
  return bound;
}

function checkLoad(original: Uint8Array, mutated: Mutated, backend: BackendName, what: string): void {
  const heap = getBackend(backend).heap;
  const jsHeap = getBackend('js').heap;
  const [before, jsBefore] = [heap.inUseBytes, jsHeap.inUseBytes];
  let model: Sequential;
  try {
    model = Sequential.load(mutated.bytes, { backend, ...mutated.options });
  } catch (error) {
    expectFileError(error, what);
    if (heap.inUseBytes !== before || jsHeap.inUseBytes !== jsBefore) {
      assert.fail(`${what}: a refused file left ${heap.inUseBytes - before} bytes allocated (js heap: ${jsHeap.inUseBytes - jsBefore})`);
    }
    if (mutated.changedData) assert.fail(`${what}: only data bytes changed, yet the file was refused: ${(error as Error).message}`);
    return;
  }
  try {
    expect(model.parameterCount * 4, `${what}: parameters against the file's ${mutated.bytes.length} bytes`).toBeLessThanOrEqual(mutated.bytes.length);
    const x = probe(model.inputSize, 3);
    const predictions = model.predict(x);
    if (outputBound(model) < Infinity) expect(predictions.every(Number.isFinite), `${what}: predictions of bounded weights`).toBe(true);
    if (mutated.changedData) checkDataChange(original, mutated, model, x, predictions, backend, what);
  } finally {
    model.dispose();
  }
  expect(heap.inUseBytes, `${what}: bytes allocated after dispose()`).toBe(before);
}

/**
 * Where only data bytes changed: every parameter is the original's, except the floats whose bytes
 * changed, which are the file's new floats; the predictions are the original model's with those floats.
 */
function checkDataChange(
  original: Uint8Array, mutated: Mutated, model: Sequential, x: Float32Array, predictions: Float32Array, backend: BackendName, what: string,
): void {
  const dataStart = 8 + headerLength(original);
  const header = JSON.parse(new TextDecoder().decode(original.subarray(8, dataStart))) as Record<string, { shape: number[]; data_offsets: [number, number] }>;
  // Tensors in file order are the parameters in order (layer by layer, weight then bias); optimizer slots are not parameters.
  const tensors = Object.entries(header).filter(([name]) => name !== '__metadata__' && !name.startsWith('optimizer.'));
  const reference = Sequential.load(original, { backend });
  try {
    const parameters = reference.namedParameters();
    expect(tensors.length, `${what}: tensors`).toBe(parameters.length);
    const view = new DataView(mutated.bytes.buffer, mutated.bytes.byteOffset + dataStart);
    for (const at of mutated.changedData!) {
      const t = tensors.findIndex(([, entry]) => at >= entry.data_offsets[0] && at < entry.data_offsets[1]);
      if (t < 0) continue;
      const [, { shape, data_offsets: [begin] }] = tensors[t];
      const element = Math.floor((at - begin) / 4);
      // A weight is stored [out, in] and kept [in, out].
      const index = shape.length === 2 ? (element % shape[1]) * shape[0] + Math.floor(element / shape[1]) : element;
      parameters[t].value[index] = view.getFloat32(begin + element * 4, true);
    }
    model.namedParameters().forEach(({ name, value }, i) =>
      expect(sameValues(value, parameters[i].value), `${what}: ${name} holds the file's floats`).toBe(true));
    expect(sameValues(predictions, reference.predict(x)), `${what}: predictions`).toBe(true);
  } finally {
    reference.dispose();
  }
}

describe('loading mutated model files', () => {
  it('valid files, mutated', () => check(fc.record({ spec: modelSpec, mutation, backend: fc.constantFrom<BackendName>('js', 'wasm') }), ({ spec, mutation: m, backend }) => {
    const original = savedFile(spec);
    checkLoad(original, mutate(original, m, spec), backend, `${m.kind} of a ${spec.widths.join('-')} model's file on ${backend}`);
  }, 3000));

  it('made-up headers with tensors named like a model\'s', () => check(fc.record({ file: madeUpFile, backend: fc.constantFrom<BackendName>('js', 'wasm') }), ({ file, backend }) => {
    checkLoad(new Uint8Array(0), madeUp(file), backend, `a made-up file on ${backend}`);
  }, 4000));
});

// ---- optimizer state ----

/** Every float the model keeps (parameters, gradients, optimizer state) and the optimizer's own settings. */
function optimizerSnapshot(model: Sequential, optimizer: Optimizer) {
  const start = model.paramsPointer >> 2;
  return {
    floats: model.backend.heap.f32.slice(start, start + (2 + model.stateSlotCount) * model.sectionFloats),
    stepCount: optimizer.stepCount,
    lr: optimizer.lr,
  };
}

describe('loading optimizer state from mutated model files', () => {
  const withOptimizer = modelSpec.filter((spec) => spec.optimizer !== 'none');
  it('optimizer.loadState() refuses with a file error, leaving everything as it was, or loads state an optimizer accepts', () =>
    check(fc.record({ spec: withOptimizer, mutation }), ({ spec, mutation: m }) => {
      const original = savedFile(spec);
      const mutated = mutate(original, m, spec);
      const what = `${m.kind} of a ${spec.widths.join('-')} model's file with ${spec.optimizer} state`;
      const model = Sequential.load(original, { backend: 'js' });
      try {
        const optimizer = OPTIMIZERS[spec.optimizer]!(model);
        const heap = model.backend.heap;
        const before = { snapshot: optimizerSnapshot(model, optimizer), bytes: heap.inUseBytes };
        try {
          optimizer.loadState(mutated.bytes);
        } catch (error) {
          expectFileError(error, what);
          const after = optimizerSnapshot(model, optimizer);
          expect(sameValues(after.floats, before.snapshot.floats), `${what}: the model's floats after a refused load`).toBe(true);
          expect([after.stepCount, after.lr], `${what}: step count and lr after a refused load`).toEqual([before.snapshot.stepCount, before.snapshot.lr]);
          expect(heap.inUseBytes, `${what}: bytes allocated`).toBe(before.bytes);
          return;
        }
        // What the optimizers' constructors and step() assume: a step count from 0, a finite lr ≥ 0.
        expect(Number.isInteger(optimizer.stepCount) && optimizer.stepCount >= 0, `${what}: loaded step count ${optimizer.stepCount}`).toBe(true);
        expect(Number.isFinite(optimizer.lr) && optimizer.lr >= 0, `${what}: loaded lr ${optimizer.lr}`).toBe(true);
        expect(heap.inUseBytes, `${what}: bytes allocated`).toBe(before.bytes);
      } finally {
        model.dispose();
      }
    }, 6000));
});

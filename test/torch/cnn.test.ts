// Convolutional networks against PyTorch: modules built by test/fixtures/torch/make_cnn_fixtures.py in
// NCHW (NCL), whose fixtures are committed, so CI needs no PyTorch; simdprop is given the same batch
// channels last (the script writes it permuted). The same networks, made with simdprop's graph API (and
// a Sequential) under PyTorch's attribute paths, load PyTorch's state_dict (strict), give its train-mode
// logits, loss and every parameter's gradient, its eval-mode logits, and follow 4 optimizer steps: the
// losses, every parameter, running statistic and num_batches_tracked, and the eval-mode logits after.
// model.save() then holds PyTorch's state_dict after the steps: its names, shapes, dtypes and values.
// That torch's load_state_dict takes the saved file was checked in PyTorch:
//   SIMDPROP_TORCH_SAVED=/tmp/saved npx vitest run test/torch/cnn.test.ts   (writes <name>.<backend>.safetensors)
//   /usr/bin/python3 test/fixtures/torch/make_cnn_fixtures.py --check-saved /tmp/saved
// loads each into a fresh module with load_state_dict(strict=True), compares every tensor with PyTorch's
// after the steps and the module's eval-mode logits with PyTorch's.
// Tolerances are relative to each value or 1e-2 of its tensor's largest (ofTensor), about 3 times the
// worst seen on either backend: gradients 3.3e-5, logits 6.4e-6, parameters after the steps 7.8e-6.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors, readInt64Tensor, readTensor } from '../../src/io/safetensors.js';
import {
  activation, add, AdamW, avgPool2d, batchNorm, concat, conv1d, conv2d, dense, flatten, globalAvgPool2d, init, input, maxPool1d, maxPool2d,
  Model, Sequential, SGD, type BackendName, type Optimizer,
} from '../../src/index.js';
import { expectClose, largestMagnitude, mixed, ofTensor } from '../tolerance.js';
import { torchLayout } from './layout.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/torch/${name}`, import.meta.url));

interface CnnFixture {
  /** The batch channels last (NHWC, NLC), and one sample's shape. */
  x: number[];
  shape: number[];
  labels: number[];
  trainLogits: number[];
  loss: number;
  evalLogits: number[];
  optimizer: { kind: 'sgd'; lr: number; momentum: number } | { kind: 'adamw'; lr: number; betas: [number, number]; eps: number; weightDecay: number };
  losses: number[];
  steppedEvalLogits: number[];
}

interface Tensor { dtype: string; shape: number[]; data: Float32Array | BigInt64Array }

/** Every tensor of a safetensors file by name, in the file's order. */
function tensorsOf(bytes: Uint8Array): Map<string, Tensor> {
  const file = parseSafetensors(bytes);
  const tensors = new Map<string, Tensor>();
  for (const [name, { dtype, shape }] of file.tensors) {
    tensors.set(name, { dtype, shape, data: dtype === 'I64' ? readInt64Tensor(file, name, shape) : readTensor(file, name, shape) });
  }
  return tensors;
}

/** make_cnn_fixtures.py's Cnn: features, a residual block, a strided rectangular conv, two heads added. */
function cnn(backend: BackendName): Model {
  const x = input([8, 8, 3]);
  const features = maxPool2d(2).apply(activation('relu').apply(
    batchNorm(8, { name: 'features.1' }).apply(conv2d(3, 8, 3, { padding: 1, name: 'features.0' }).apply(x))));
  const inner = activation('relu').apply(
    batchNorm(8, { name: 'block.bn1' }).apply(conv2d(8, 8, 3, { padding: 1, bias: false, name: 'block.conv1' }).apply(features)));
  const block = batchNorm(8, { name: 'block.bn2' }).apply(conv2d(8, 8, 3, { padding: 'same', dilation: 2, bias: false, name: 'block.conv2' }).apply(inner));
  const residual = activation('relu').apply(add(block, features));
  const down = conv2d(8, 12, [3, 2], { stride: 2, padding: [1, 0], activation: 'relu', name: 'down' }).apply(residual);
  const pooled = avgPool2d(3, { stride: 1, padding: 1 }).apply(down);
  const logits = add(
    dense(48, 10, 'linear', { name: 'head' }).apply(flatten().apply(pooled)),
    dense(8, 10, 'linear', { name: 'aux' }).apply(globalAvgPool2d().apply(residual)));
  return new Model({ inputs: x, outputs: logits }, { seed: 7, backend });
}

/** make_cnn_fixtures.py's Cnn1d on [length, channels]. */
function cnn1d(backend: BackendName): Model {
  const x = input([12, 4]);
  const h = maxPool1d(2).apply(activation('relu').apply(
    batchNorm(6, { name: 'bn' }).apply(conv1d(4, 6, 3, { padding: 2, dilation: 2, name: 'conv' }).apply(x))));
  return new Model({ inputs: x, outputs: dense(36, 5, 'linear', { name: 'fc' }).apply(flatten().apply(h)) }, { seed: 7, backend });
}

/**
 * Each network, its fixtures' name, and the biases of convs that a batch norm follows: the norm takes out
 * every channel's mean, so their gradient is 0 and both sides hold only rounding (about 1e-8).
 */
/** make_cnn_fixtures.py's Merge: the input plus a conv of it, joined to another conv along the channels; both flattened into linears. */
function merge(backend: BackendName): Model {
  const x = input([3, 3, 3]);
  const summed = add(x, conv2d(3, 3, 3, { padding: 1, name: 'conv_b' }).apply(x));
  const joined = concat([conv2d(3, 2, 3, { padding: 1, name: 'conv_a' }).apply(x), summed]);
  const logits = add(
    dense(45, 4, 'linear', { name: 'fc' }).apply(flatten().apply(joined)),
    dense(27, 4, 'linear', { name: 'skip' }).apply(flatten().apply(summed)));
  return new Model({ inputs: x, outputs: logits }, { seed: 7, backend });
}

const CASES: { name: string; file: string; build: (backend: BackendName) => Model; zeroGradients?: string[] }[] = [
  {
    name: 'a CNN with batch norm, a residual block, dilated, strided and rectangular convs, pooling and two heads',
    file: 'cnn', build: cnn, zeroGradients: ['features.0.bias'],
  },
  { name: 'a conv1d network with batch norm and max pooling', file: 'conv1d', build: cnn1d, zeroGradients: ['conv.bias'] },
  { name: 'a sum with the input and a join along the channels of feature maps, flattened into a linear', file: 'merge', build: merge },
  {
    name: "a Sequential conv, relu, pool, flatten, linear (nn.Sequential's indices)",
    file: 'seq',
    build: (backend) => new Sequential([conv2d(3, 4, 3), activation('relu'), maxPool2d(2), flatten(), dense(16, 5)], { inputShape: [6, 6, 3], seed: 7, backend }),
  },
  {
    // The fused relu takes nn.Sequential's index 1, as its own module would.
    name: 'the same Sequential with the relu fused into the conv',
    file: 'seq',
    build: (backend) => new Sequential([conv2d(3, 4, 3, { activation: 'relu' }), maxPool2d(2), flatten(), dense(16, 5)], { inputShape: [6, 6, 3], seed: 7, backend }),
  },
];

beforeAll(async () => {
  await init({ threads: 1 });
});

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expectClose(actual, expected, ofTensor(expected, rel), what);
}

function optimizerFor(model: Model, spec: CnnFixture['optimizer']): Optimizer {
  return spec.kind === 'sgd'
    ? new SGD(model, { lr: spec.lr, momentum: spec.momentum })
    : new AdamW(model, { lr: spec.lr, betas: spec.betas, eps: spec.eps, weightDecay: spec.weightDecay });
}

/** A state (model.stateDict() or a saved file's tensors) against PyTorch's: the same names, shapes, dtypes and values. */
function expectState(actual: Map<string, Tensor>, expected: Map<string, Tensor>, rel: number, what: string): void {
  expect([...actual.keys()].sort(), `${what}: names`).toEqual([...expected.keys()].sort());
  for (const [name, want] of expected) {
    const got = actual.get(name)!;
    expect({ dtype: got.dtype, shape: got.shape }, `${what}: ${name}'s dtype and shape`).toEqual({ dtype: want.dtype, shape: want.shape });
    if (want.dtype === 'I64') expect(Array.from(got.data as BigInt64Array), `${what}: ${name}`).toEqual(Array.from(want.data as BigInt64Array));
    else expectNear(got.data as Float32Array, want.data as Float32Array, rel, `${what}: ${name}`);
  }
}

const stateOf = (model: Model): Map<string, Tensor> => new Map(model.stateDict().map((t) => [t.name, {
  dtype: t.data instanceof BigInt64Array ? 'I64' : 'F32', shape: [...t.shape], data: t.data,
}]));

describe.each(['wasm', 'js'] as BackendName[])('convolutional networks against PyTorch (%s)', (backend) => {
  for (const { name, file, build, zeroGradients = [] } of CASES) {
    const data = JSON.parse(fixture(`${file}.json`).toString('utf8')) as CnnFixture;
    const initial = tensorsOf(fixture(`${file}.safetensors`));
    const x = Float32Array.from(data.x);
    const labels = Int32Array.from(data.labels);
    const loaded = (): Model => {
      const model = build(backend);
      expect(model.plan.tensors[model.plan.inputs[0]].type.shape).toEqual(data.shape);
      expect(model.loadStateDict(fixture(`${file}.safetensors`), { strict: true })).toEqual({ missingKeys: [], unexpectedKeys: [] });
      return model;
    };

    it(`${name}: loads PyTorch's state_dict whole (its names, shapes and dtypes, counters as I64 [])`, () => {
      const model = loaded();
      expectState(stateOf(model), initial, 0, 'the loaded state');
      model.dispose();
    });

    it(`${name}: train mode gives PyTorch's logits, loss and every parameter's gradient`, () => {
      const model = loaded();
      expectNear(model.forward(x) as Float32Array, data.trainLogits, 2e-5, 'train-mode logits');
      expectNear([model.loss('softmaxCrossEntropy', labels)], [data.loss], 1e-6, 'loss');
      model.zeroGrad();
      model.backward();
      const grads = tensorsOf(fixture(`${file}.grads.safetensors`));
      expect(model.namedParameters().map((p) => p.name).sort()).toEqual([...grads.keys()].sort());
      // A gradient of 0 but rounding is compared against the scale of all the gradients.
      const largest = largestMagnitude(...[...grads.values()].map((g) => g.data as Float32Array));
      for (const parameter of model.namedParameters()) {
        const [grad, expected] = [torchLayout(model, parameter.name, parameter.grad), grads.get(parameter.name)!.data as Float32Array];
        if (zeroGradients.includes(parameter.name)) expectClose(grad, expected, mixed(1e-6 * largest, 0), `gradient of ${parameter.name} (0 but rounding)`);
        else expectNear(grad, expected, 1e-4, `gradient of ${parameter.name}`);
      }
      model.dispose();
    });

    it(`${name}: eval mode gives PyTorch's logits from the loaded running statistics`, () => {
      const model = loaded().eval();
      expectNear(model.forward(x) as Float32Array, data.evalLogits, 2e-5, 'eval-mode logits');
      expectState(stateOf(model), initial, 0, 'the state after an eval-mode forward');
      model.dispose();
    });

    it(`${name}: follows PyTorch's ${data.optimizer.kind} steps, and saves PyTorch's state_dict after them`, () => {
      const model = loaded();
      const optimizer = optimizerFor(model, data.optimizer);
      const losses = data.losses.map(() => model.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer }));
      expectNear(losses, data.losses, 1e-6, 'losses');
      const stepped = tensorsOf(fixture(`${file}.stepped.safetensors`));
      expectState(stateOf(model), stepped, 3e-5, `the state after ${losses.length} steps`);
      expectNear(model.eval().forward(x) as Float32Array, data.steppedEvalLogits, 2e-5, `eval-mode logits after ${losses.length} steps`);

      const saved = model.save();
      expect(parseSafetensors(saved).metadata.format).toBe('simdprop-graph');
      expectState(tensorsOf(saved), stepped, 3e-5, 'the saved file');
      const directory = process.env.SIMDPROP_TORCH_SAVED;
      if (directory !== undefined && name === CASES.find((c) => c.file === file)!.name) {
        mkdirSync(directory, { recursive: true });
        writeFileSync(join(directory, `${file}.${backend}.safetensors`), saved);
      }
      model.dispose();
    });
  }
});

// Convolutions through the shared layer harness (wasm against the twins, tape against call by call,
// float64 gradient checks) in small graphs: a stack, a residual block, a fan-out, a shared layer,
// strides, paddings and dilations, 1×1 convolutions and conv1d; then options, shapes and files.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activation, add, conv1d, conv2d, dense, flatten, init, input, Model, reshape, Rng, type ConvOptions,
} from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { checkGraph, normals } from './harness.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe('conv2d in graphs', () => {
  const cases: [string, number, number, number, number, ConvOptions][] = [
    ['3×3, padding 1, relu', 5, 3, 4, 3, { padding: 1, activation: 'relu' }],
    ["5×5, padding 'same', tanh", 6, 2, 5, 5, { padding: 'same', activation: 'tanh' }],
    ['3×3 stride 2, padding 1', 7, 3, 6, 3, { stride: 2, padding: 1 }],
    ['2×2 stride 2, no bias', 6, 4, 3, 2, { stride: 2, bias: false }],
    ['3×3 dilation 2, padding 2, gelu', 7, 2, 3, 3, { dilation: 2, padding: 2, activation: 'gelu' }],
    ['[3, 1] kernel, stride [1, 2], padding [1, 0]', 5, 3, 4, 1, { stride: [1, 2], padding: [1, 0] }],
    ['1×1 (a dense layer on the channels), leakyRelu', 4, 5, 3, 1, { activation: 'leakyRelu' }],
  ];
  for (const [name, size, inChannels, outChannels, kernel, options] of cases) {
    checkGraph({
      name: `conv2d ${name}`,
      graph: () => {
        const x = input([size, size, inChannels]);
        const k = name.startsWith('[3, 1]') ? [3, 1] : kernel;
        const h = conv2d(inChannels, outChannels, k, options).apply(x);
        const spatial = h.shape[0] * h.shape[1];
        return { inputs: x, outputs: dense(spatial * outChannels, 3).apply(flatten().apply(h)) };
      },
      inputs: (rows, rng) => normals(rng, rows * size * size * inChannels),
      targets: (rows, rng) => normals(rng, rows * 3),
      loss: 'mse',
      rows: 3,
    });
  }

  checkGraph({
    name: 'a residual block: conv → relu → conv, added to its input',
    graph: () => {
      const x = input([5, 5, 4]);
      const h = conv2d(4, 4, 3, { padding: 1, activation: 'relu' }).apply(x);
      const r = add(x, conv2d(4, 4, 3, { padding: 1 }).apply(h));
      return { inputs: x, outputs: dense(100, 2).apply(flatten().apply(activation('relu').apply(r))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 100),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
    rows: 3,
  });

  checkGraph({
    name: 'one conv applied twice (shared weights), its outputs read by two layers (fan-out)',
    graph: () => {
      const x = input([6, 6, 3]);
      const shared = conv2d(3, 3, 3, { padding: 1 });
      const once = shared.apply(x);
      const twice = shared.apply(activation('tanh').apply(once));
      const a = conv2d(3, 2, 3, { stride: 2 }).apply(once);
      const b = conv2d(3, 2, 3, { stride: 2 }).apply(twice);
      return { inputs: x, outputs: dense(8, 2).apply(flatten().apply(add(a, b))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 108),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
    rows: 2,
  });

  checkGraph({
    name: 'a LeNet-like stack with softmax cross-entropy',
    graph: () => {
      const x = input([12, 12, 1]);
      const h1 = conv2d(1, 4, 5, { padding: 2, activation: 'relu' }).apply(x);
      const h2 = conv2d(4, 6, 5, { stride: 2, activation: 'relu' }).apply(h1);
      return { inputs: x, outputs: dense(96, 5).apply(flatten().apply(h2)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 144),
    targets: (rows, rng) => Int32Array.from({ length: rows }, () => rng.below(5)),
    loss: 'softmaxCrossEntropy',
    rows: 3,
  });
});

describe('conv1d in graphs', () => {
  checkGraph({
    name: 'conv1d kernel 3 padding same, then kernel 2 stride 2 dilation 1',
    graph: () => {
      const x = input([9, 3]);
      const h = conv1d(3, 4, 3, { padding: 'same', activation: 'relu' }).apply(x);
      const g = conv1d(4, 5, 2, { stride: 2 }).apply(h);
      return { inputs: x, outputs: dense(20, 2).apply(flatten().apply(g)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 27),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
    rows: 3,
  });

  checkGraph({
    name: 'conv1d dilated, a dense on its last axis',
    graph: () => {
      const x = input([11, 2]);
      const h = conv1d(2, 3, 3, { dilation: 3, padding: 1 }).apply(x);
      return { inputs: x, outputs: dense(3, 2).apply(h) };
    },
    inputs: (rows, rng) => normals(rng, rows * 22),
    targets: (rows, rng) => normals(rng, rows * 14),
    loss: 'mse',
    rows: 2,
  });
});

describe('a convolution fuses the activation after it', () => {
  it('into one node, as dense does', () => {
    const x = input([5, 5, 2]);
    const model = new Model({ inputs: x, outputs: activation('relu').apply(conv2d(2, 3, 3).apply(x)) }, { backend: 'js' });
    expect(model.plan.nodes.length).toBe(1);
    model.dispose();
  });
});

describe('bad options and shapes get clear errors', () => {
  it('options', () => {
    expectError(() => conv2d(0, 3, 3), 'OPTION', /conv2d inChannels must be a positive integer/);
    expectError(() => conv2d(3, 3, 0), 'OPTION', /conv2d kernelSize must be a number or \[h, w\] of integers ≥ 1, got number 0/);
    expectError(() => conv2d(3, 3, 3, { stride: 0 }), 'OPTION', /conv2d stride must be .* ≥ 1, got number 0/);
    expectError(() => conv2d(3, 3, 3, { dilation: 0 }), 'OPTION', /conv2d dilation/);
    expectError(() => conv2d(3, 3, 3, { padding: -1 }), 'OPTION', /conv2d padding must be .* ≥ 0/);
    expectError(() => conv2d(3, 3, 3, { padding: 'same', stride: 2 }), 'OPTION', /'same' needs stride 1/);
    expectError(() => conv2d(3, 3, 2, { padding: 'same' }), 'OPTION', /dilation·\(kernelSize − 1\) must be even/);
    expectError(() => conv1d(3, 3, [3, 3]), 'OPTION', /conv1d kernelSize must be a number/);
  });

  it('an image of the wrong channels or rank names the layer and both shapes; a kernel larger than the padded input', () => {
    expectError(() => conv2d(3, 4, 3, { name: 'features.0' }).apply(input([8, 8, 1])), 'SHAPE',
      /conv2d "features.0" takes \[height, width, 3\].*input 0 is \[8, 8, 1\]/);
    expectError(() => conv2d(3, 4, 3).apply(input([8, 3])), 'SHAPE', /conv2d takes \[height, width, 3\] \(channels last\), but input 0 is \[8, 3\]/);
    expectError(() => conv2d(1, 4, 5).apply(input([3, 8, 1])), 'SHAPE', /kernel spans 5 .* more than the padded input's 3/);
    expectError(() => conv1d(2, 4, 3, { dilation: 4 }).apply(input([6, 2])), 'SHAPE', /kernel spans 9/);
  });

  it('images of the wrong size get a SHAPE error naming the sample shape, and leave the model as it was', () => {
    const x = input([4, 4, 2]);
    const model = new Model({ inputs: x, outputs: dense(18, 1).apply(flatten().apply(conv2d(2, 2, 2).apply(x))) }, { backend: 'wasm', seed: 3 });
    const before = model.namedParameters().map((p) => p.value.slice());
    expectError(() => model.forward(new Float32Array(33)), 'SHAPE', /x must hold whole samples of \[4, 4, 2\] \(32 values each\): got a Float32Array of length 33/);
    model.namedParameters().forEach((p, i) => expect(p.value).toEqual(before[i]));
    model.dispose();
  });
});

describe('files', () => {
  it('Model.load(save()) rebuilds a conv model bit-exactly, options included', () => {
    const x = input([7, 7, 2]);
    const h = conv2d(2, 3, [3, 2], { stride: [2, 1], padding: [1, 0], dilation: [1, 2], activation: 'gelu', name: 'features.0' }).apply(x);
    expect(h.shape).toEqual([4, 5, 3]);
    const g = conv1d(3, 2, 3, { padding: 'same', bias: false }).apply(reshape([20, 3]).apply(h));
    const model = new Model({ inputs: x, outputs: dense(40, 2).apply(flatten().apply(g)) }, { backend: 'wasm', seed: 5 });
    const batch = normals(new Rng(1), 3 * 98);
    const expected = Float32Array.from(model.predict(batch) as Float32Array);
    const loaded = Model.load(model.save());
    expect(Array.from(loaded.predict(batch) as Float32Array)).toEqual(Array.from(expected));
    expect(loaded.namedParameters().map((p) => p.name)).toEqual(model.namedParameters().map((p) => p.name));
    model.dispose();
    loaded.dispose();
  });
});

describe('grouped and depthwise convolutions', () => {
  const head = (h: { shape: readonly number[] }, outputs: number) => dense(h.shape.reduce((p, d) => p * d, 1), outputs);

  checkGraph({
    name: 'a depthwise-separable block: depthwise 3×3 relu, then a 1×1 conv',
    graph: () => {
      const x = input([6, 6, 5]);
      const d = conv2d(5, 5, 3, { groups: 5, padding: 1, activation: 'relu' }).apply(x);
      const p = conv2d(5, 7, 1).apply(d);
      return { inputs: x, outputs: head(p, 3).apply(flatten().apply(p)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 180),
    targets: (rows, rng) => normals(rng, rows * 3),
    loss: 'mse',
    rows: 3,
  });

  checkGraph({
    name: 'depthwise strided and dilated, gelu (z kept apart), no bias, shared by two inputs',
    graph: () => {
      const x = input([7, 7, 17]);
      const layer = conv2d(17, 17, 3, { groups: 17, stride: 2, padding: 2, dilation: 2, activation: 'gelu', bias: false });
      const h = add(layer.apply(x), layer.apply(activation('tanh').apply(x)));
      return { inputs: x, outputs: head(h, 2).apply(flatten().apply(h)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 7 * 7 * 17),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
    rows: 2,
  });

  checkGraph({
    name: 'a grouped conv (groups 2, as AlexNet) with leakyRelu',
    graph: () => {
      const x = input([6, 6, 4]);
      const h = conv2d(4, 6, 3, { groups: 2, padding: 1, activation: 'leakyRelu' }).apply(x);
      return { inputs: x, outputs: head(h, 3).apply(flatten().apply(h)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 144),
    targets: (rows, rng) => normals(rng, rows * 3),
    loss: 'mse',
    rows: 3,
  });

  checkGraph({
    name: 'a channel multiplier: groups = in, out = 2·in, stride 2, tanh',
    graph: () => {
      const x = input([7, 7, 3]);
      const h = conv2d(3, 6, 3, { groups: 3, stride: 2, activation: 'tanh' }).apply(x);
      return { inputs: x, outputs: head(h, 2).apply(flatten().apply(h)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 147),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
    rows: 3,
  });

  checkGraph({
    name: 'conv1d depthwise (padding same), then conv1d in 2 groups',
    graph: () => {
      const x = input([9, 4]);
      const h = conv1d(4, 4, 3, { groups: 4, padding: 'same', activation: 'relu' }).apply(x);
      const g = conv1d(4, 6, 2, { groups: 2, stride: 2 }).apply(h);
      return { inputs: x, outputs: head(g, 2).apply(flatten().apply(g)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 36),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
    rows: 3,
  });

  it('groups that are not a positive integer, or do not divide both channel counts, are OPTION errors naming both', () => {
    expectError(() => conv2d(6, 9, 3, { groups: 2 }), 'OPTION', /conv2d groups must be a positive integer dividing both inChannels 6 and outChannels 9, got number 2/);
    expectError(() => conv2d(4, 4, 3, { groups: 3 }), 'OPTION', /inChannels 4 and outChannels 4/);
    expectError(() => conv2d(4, 4, 3, { groups: 0 }), 'OPTION', /groups must be a positive integer/);
    expectError(() => conv2d(4, 4, 3, { groups: 1.5 }), 'OPTION', /groups must be a positive integer/);
    expectError(() => conv1d(4, 8, 3, { groups: '4' as unknown as number }), 'OPTION', /conv1d groups must be a positive integer/);
  });

  it('the weights have PyTorch\'s shapes and fans: [out, in/groups, ...kernel]', () => {
    const x = input([5, 5, 6]);
    const h = conv2d(6, 6, 3, { groups: 6, name: 'dw' }).apply(x);
    const g = conv2d(6, 4, [3, 1], { groups: 2, name: 'grouped' }).apply(h);
    const c = conv1d(5, 10, 3, { groups: 5, name: 'multiplier' }).apply(reshape([3, 5]).apply(conv2d(4, 5, 1).apply(g)));
    const model = new Model({ inputs: x, outputs: c }, { backend: 'js', seed: 1 });
    const shapes = Object.fromEntries(model.namedParameters().map((p) => [p.name, p.shape]));
    expect(shapes['dw.weight']).toEqual([3, 3, 6]);
    expect(shapes['grouped.weight']).toEqual([2, 3, 1, 3, 2]);
    expect(shapes['multiplier.weight']).toEqual([5, 3, 1, 2]);
    model.dispose();
  });
});

describe('grouped and depthwise files', () => {
  it('Model.load(save()) rebuilds depthwise, grouped and multiplier convolutions bit-exactly', () => {
    const x = input([6, 6, 4]);
    const d = conv2d(4, 4, 3, { groups: 4, padding: 1, activation: 'relu' }).apply(x);
    const g = conv2d(4, 8, 3, { groups: 2, stride: 2 }).apply(d);
    const m = conv1d(8, 16, 2, { groups: 8 }).apply(reshape([4, 8]).apply(g));
    const model = new Model({ inputs: x, outputs: dense(48, 2).apply(flatten().apply(m)) }, { backend: 'wasm', seed: 5 });
    const batch = normals(new Rng(1), 3 * 144);
    const expected = Float32Array.from(model.predict(batch) as Float32Array);
    const loaded = Model.load(model.save());
    expect(Array.from(loaded.predict(batch) as Float32Array)).toEqual(Array.from(expected));
    model.dispose();
    loaded.dispose();
  });
});

// The pooling layers through the shared harness (test/layers/harness.ts) in small channels-last
// graphs — overlapping and padded windows, a pooled tensor read twice, a pool on a model input, 1-D
// stacks — then their output shapes, bad options and shapes, and save/load of every kind.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add, avgPool1d, avgPool2d, dense, flatten, globalAvgPool1d, globalAvgPool2d, init, input, maxPool1d, maxPool2d, Model, Rng,
} from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { checkGraph, normals } from './harness.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe('maxPool2d', () => {
  checkGraph({
    name: 'dense on channels (3 → 4, tanh), maxPool2d(2), flatten, dense',
    graph: () => {
      const x = input([6, 6, 3]);
      const pooled = maxPool2d(2).apply(dense(3, 4, 'tanh').apply(x));
      return { inputs: x, outputs: dense(36, 3).apply(flatten().apply(pooled)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 108),
    targets: (rows, rng) => normals(rng, rows * 3),
    loss: 'mse',
  });
  checkGraph({
    name: 'overlapping padded windows (kernel 3, stride 2, padding 1), the pooled tensor read twice',
    graph: () => {
      const x = input([7, 7, 5]);
      const pooled = maxPool2d(3, { stride: 2, padding: 1 }).apply(dense(5, 4, 'tanh').apply(x));
      return { inputs: x, outputs: dense(64, 2).apply(flatten().apply(add(pooled, dense(4, 4).apply(pooled)))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 245),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
  });
  checkGraph({
    name: 'on the model input itself (no input gradient), rectangular kernel [2, 3] and stride [2, 1]',
    graph: () => {
      const x = input([4, 5, 2]);
      return { inputs: x, outputs: dense(12, 3).apply(flatten().apply(maxPool2d([2, 3], { stride: [2, 1] }).apply(x))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 40),
    targets: (rows, rng) => normals(rng, rows * 3),
    loss: 'mse',
  });
});

describe('avgPool2d', () => {
  checkGraph({
    name: 'avgPool2d(2) after a dense on channels, read twice',
    graph: () => {
      const x = input([6, 6, 3]);
      const pooled = avgPool2d(2).apply(dense(3, 4, 'tanh').apply(x));
      return { inputs: x, outputs: dense(36, 3).apply(flatten().apply(add(pooled, dense(4, 4, 'gelu').apply(pooled)))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 108),
    targets: (rows, rng) => normals(rng, rows * 3),
    loss: 'mse',
  });
  checkGraph({
    name: 'kernel 3, stride 1, padding 1, countIncludePad false, then padding counted with kernel [3, 2]',
    graph: () => {
      const x = input([5, 5, 3]);
      const h = avgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }).apply(dense(3, 4, 'tanh').apply(x));
      const pooled = avgPool2d([3, 2], { stride: [2, 2], padding: [1, 1] }).apply(h);
      return { inputs: x, outputs: dense(36, 2).apply(flatten().apply(pooled)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 75),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
  });
});

describe('globalAvgPool2d', () => {
  checkGraph({
    name: 'a feature map read by globalAvgPool2d and by maxPool2d over the whole map, added',
    graph: () => {
      const x = input([5, 5, 3]);
      const h = dense(3, 6, 'tanh').apply(x);
      const whole = flatten().apply(maxPool2d(5).apply(h));
      return { inputs: x, outputs: dense(6, 2).apply(add(globalAvgPool2d().apply(h), whole)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 75),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
  });
});

describe('1-D pools over [length, channels]', () => {
  checkGraph({
    name: 'maxPool1d(3, stride 2, padding 1), avgPool1d(2, stride 1), globalAvgPool1d',
    graph: () => {
      const x = input([9, 3]);
      const h = maxPool1d(3, { stride: 2, padding: 1 }).apply(dense(3, 5, 'tanh').apply(x));
      const a = avgPool1d(2, { stride: 1, countIncludePad: false }).apply(h);
      return { inputs: x, outputs: dense(5, 2).apply(globalAvgPool1d().apply(add(a, dense(5, 5).apply(a)))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 27),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
  });
});

describe('output shapes, as PyTorch computes them (floor, dilation 1)', () => {
  it('2-D, 1-D and global', () => {
    expect(maxPool2d(2).apply(input([7, 7, 5])).shape).toEqual([3, 3, 5]);
    expect(maxPool2d(3, { stride: 2, padding: 1 }).apply(input([7, 7, 5])).shape).toEqual([4, 4, 5]);
    expect(avgPool2d([2, 3], { stride: [1, 2] }).apply(input([5, 7, 2])).shape).toEqual([4, 3, 2]);
    expect(avgPool2d(3, { stride: 1, padding: 1 }).apply(input([4, 6, 1])).shape).toEqual([4, 6, 1]);
    expect(maxPool1d(2).apply(input([9, 3])).shape).toEqual([4, 3]);
    expect(avgPool1d(3, { stride: 2, padding: 1 }).apply(input([10, 4])).shape).toEqual([5, 4]);
    expect(globalAvgPool2d().apply(input([5, 4, 3])).shape).toEqual([3]);
    expect(globalAvgPool1d().apply(input([8, 6])).shape).toEqual([6]);
  });

  it('values of a known batch: max picks, averages divide as count_include_pad says', () => {
    // One sample 2×2×1 [[1, 2], [3, 4]] and a second of its negatives.
    const x = input([2, 2, 1]);
    const models = [
      maxPool2d(2), avgPool2d(2), avgPool2d(2, { padding: 1 }), avgPool2d(2, { padding: 1, countIncludePad: false }), globalAvgPool2d(),
    ].map((layer) => new Model({ inputs: x, outputs: layer.apply(x) }, { backend: 'wasm' }));
    const batch = Float32Array.of(1, 2, 3, 4, -1, -2, -3, -4);
    const outputs = models.map((model) => Array.from(model.forward(batch) as Float32Array));
    expect(outputs).toEqual([[4, -1], [2.5, -2.5], [0.25, 0.5, 0.75, 1, -0.25, -0.5, -0.75, -1], [1, 2, 3, 4, -1, -2, -3, -4], [2.5, -2.5]]);
    models.forEach((model) => model.dispose());
  });
});

describe('bad options and shapes get a clear error naming the layer', () => {
  it('kernel sizes and strides must be positive integers (or [height, width] pairs in 2-D)', () => {
    expectError(() => maxPool2d(0), 'OPTION', /maxPool2d kernelSize must be a positive integer or \[height, width\] of them, got number 0/);
    expectError(() => avgPool2d(2.5), 'OPTION', /avgPool2d kernelSize must be a positive integer or \[height, width\] of them, got number 2\.5/);
    expectError(() => maxPool2d([2] as never), 'OPTION', /maxPool2d kernelSize must be/);
    expectError(() => maxPool2d(2, { stride: 0, name: 'pool1' }), 'OPTION', /maxPool2d "pool1" stride must be a positive integer/);
    expectError(() => maxPool2d(2, { stride: [1, 1.5] }), 'OPTION', /maxPool2d stride must be/);
    expectError(() => maxPool1d([2, 2] as never), 'OPTION', /maxPool1d kernelSize must be a positive integer, got/);
    expectError(() => avgPool1d(2, { stride: -1 }), 'OPTION', /avgPool1d stride must be a positive integer, got number -1/);
  });

  it('padding is a non-negative integer of at most half the kernel, as PyTorch requires', () => {
    expectError(() => maxPool2d(2, { padding: -1 }), 'OPTION', /maxPool2d padding must be a non-negative integer/);
    expectError(() => maxPool2d(3, { padding: 2 }), 'OPTION', /maxPool2d padding must be at most half the kernel size .*got padding \[2, 2\] for kernelSize \[3, 3\]/);
    expectError(() => avgPool2d([4, 2], { padding: [2, 2] }), 'OPTION', /padding \[2, 2\] for kernelSize \[4, 2\]/);
    expectError(() => maxPool1d(1, { padding: 1 }), 'OPTION', /maxPool1d padding must be at most half the kernel size .*got padding 1 for kernelSize 1/);
    expectError(() => avgPool2d(2, { countIncludePad: 'yes' as never }), 'OPTION', /avgPool2d countIncludePad must be true or false, got/);
  });

  it('an input of the wrong rank, or smaller than the padded window', () => {
    expectError(() => maxPool2d(2, { name: 'pool1' }).apply(input([6, 6])), 'SHAPE', /maxPool2d "pool1" takes \[height, width, channels\], but input 0 is \[6, 6\]/);
    expectError(() => avgPool1d(2).apply(input([6, 6, 3])), 'SHAPE', /avgPool1d takes \[length, channels\], but input 0 is \[6, 6, 3\]/);
    expectError(() => globalAvgPool2d().apply(input([6])), 'SHAPE', /globalAvgPool2d takes \[height, width, channels\], but input 0 is \[6\]/);
    expectError(() => globalAvgPool1d().apply(input([2, 6, 3])), 'SHAPE', /globalAvgPool1d takes \[length, channels\], but input 0 is \[2, 6, 3\]/);
    expectError(() => maxPool2d(5).apply(input([4, 6, 3])), 'SHAPE',
      /maxPool2d with kernelSize \[5, 5\] and padding \[0, 0\] needs a padded input at least as large as its window, but input 0 is \[4, 6, 3\]/);
    expectError(() => maxPool1d(4, { padding: 1 }).apply(input([1, 2])), 'SHAPE', /maxPool1d with kernelSize 4 and padding 1 needs .* input 0 is \[1, 2\]/);
    expectError(() => maxPool2d(2).apply(input([4, 4, 1], { dtype: 'int32' })), 'TYPE', /maxPool2d takes float32 inputs/);
  });
});

describe('save and load', () => {
  it('Model.load(model.save()) rebuilds every pooling kind with its settings, and gives the same outputs', () => {
    const image = input([7, 7, 3], { name: 'image' });
    const h = dense(3, 4, 'tanh').apply(image);
    const a = maxPool2d([3, 2], { stride: [2, 1], padding: [1, 0], name: 'pool.max' }).apply(h);
    const b = avgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }).apply(h);
    const images = dense(4, 2).apply(add(globalAvgPool2d().apply(a), globalAvgPool2d().apply(b)));
    const sequence = input([9, 2], { name: 'sequence' });
    const s = avgPool1d(2, { stride: 1, padding: 1 }).apply(maxPool1d(3, { stride: 2, padding: 1 }).apply(sequence));
    const sequences = globalAvgPool1d({ name: 'gap1d' }).apply(s);
    const model = new Model({ inputs: { image, sequence }, outputs: { images, sequences } }, { seed: 3, backend: 'wasm' });
    const loaded = Model.load(model.save(), { backend: 'wasm' });
    const configs = (m: Model) => m.layers.map((layer) => [layer.kind, (layer as unknown as { config(): unknown }).config()]);
    expect(configs(loaded)).toEqual(configs(model));
    expect(configs(model).map(([kind]) => kind)).toEqual(expect.arrayContaining(['maxPool2d', 'avgPool2d', 'globalAvgPool2d', 'maxPool1d', 'avgPool1d', 'globalAvgPool1d']));
    const rng = new Rng(5);
    const batch = { image: normals(rng, 2 * 147), sequence: normals(rng, 2 * 18) };
    const before = Object.values(model.forward(batch)).map((v) => Array.from(v as Float32Array));
    const after = Object.values(loaded.forward(batch)).map((v) => Array.from(v as Float32Array));
    expect(after).toEqual(before);
    [model, loaded].forEach((m) => m.dispose());
  });
});

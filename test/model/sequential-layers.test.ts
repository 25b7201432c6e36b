// A Sequential of other layers than dense: convolutions and pooling from an inputShape, named by
// nn.Sequential's module indices, saved as a graph that Model.load and loadModel rebuild.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  conv2d, dense, dropout, flatten, init, loadModel, maxPool2d, Model, Rng, SGD, Sequential,
} from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { normals } from '../layers/harness.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

const lenet = (): Sequential<ReturnType<typeof conv2d> | ReturnType<typeof maxPool2d> | ReturnType<typeof flatten> | ReturnType<typeof dense>> =>
  new Sequential([
    conv2d(1, 3, 3, { padding: 1, activation: 'relu' }), maxPool2d(2),
    conv2d(3, 4, 3, { activation: 'tanh' }), flatten(), dropout(0.25),
    dense(16, 8, 'relu'), dense(8, 3),
  ], { inputShape: [8, 8, 1], seed: 4, backend: 'wasm' });

describe('a Sequential of convolutions and pooling', () => {
  it('names its tensors as PyTorch\'s nn.Sequential of the same modules (a fused activation is a module)', () => {
    const model = lenet();
    // Conv2d 0, ReLU 1, MaxPool2d 2, Conv2d 3, Tanh 4, Flatten 5, Dropout 6, Linear 7, ReLU 8, Linear 9.
    expect(model.namedParameters().map((p) => p.name)).toEqual(['0.weight', '0.bias', '3.weight', '3.bias', '7.weight', '7.bias', '9.weight', '9.bias']);
    expect(model.stateDict().map((t) => `${t.name} [${t.shape.join(', ')}]`)).toEqual([
      '0.weight [3, 1, 3, 3]', '0.bias [3]', '3.weight [4, 3, 3, 3]', '3.bias [4]', '7.weight [8, 16]', '7.bias [8]', '9.weight [3, 8]', '9.bias [3]',
    ]);
    expect(model.layers.map((layer) => layer.kind)).toEqual(['conv2d', 'maxPool2d', 'conv2d', 'flatten', 'dense', 'dense']);
    expect(model.dropoutRates).toEqual([0, 0, 0, 0.25, 0, 0]);
    expect(model.inputSize).toBe(64);
    expect(model.outputSize).toBe(3);
    model.dispose();
  });

  it('trains, and saves as a graph that Model.load and loadModel rebuild bit-exactly', () => {
    const model = lenet();
    const rng = new Rng(3);
    const x = normals(rng, 6 * 64);
    const y = Int32Array.from({ length: 6 }, (_, i) => i % 3);
    const optimizer = new SGD(model, { lr: 0.05 });
    const first = model.trainStep(x, y, { loss: 'softmaxCrossEntropy', optimizer });
    for (let step = 0; step < 20; step++) model.trainStep(x, y, { loss: 'softmaxCrossEntropy', optimizer });
    expect(model.trainStep(x, y, { loss: 'softmaxCrossEntropy', optimizer })).toBeLessThan(first);
    model.eval();
    const expected = Float32Array.from(model.predict(x));
    const bytes = model.save();
    for (const loaded of [Model.load(bytes), loadModel(bytes)]) {
      expect(loaded.namedParameters().map((p) => p.name)).toEqual(model.namedParameters().map((p) => p.name));
      expect(Array.from(loaded.predict(x) as Float32Array)).toEqual(Array.from(expected));
      loaded.dispose();
    }
    // The file's state_dict is nn.Sequential's: it loads into a fresh stack of the same layers.
    const fresh = lenet();
    fresh.loadStateDict(bytes, { strict: false });
    fresh.eval();
    expect(Array.from(fresh.predict(x))).toEqual(Array.from(expected));
    model.dispose();
    fresh.dispose();
  });

  it('freezes layers by their index in layers', () => {
    const model = lenet().freeze(0, 2);
    expect(model.layers.map((layer) => layer.trainable)).toEqual([false, true, false, true, true, true]);
    expectError(() => model.freeze(6), 'OPTION', /freeze: number 6 is not a layer index \(0 to 5\)/);
    model.dispose();
  });

  it('needs an inputShape when the first layer is not dense, and checks the layers fit', () => {
    expectError(() => new Sequential([conv2d(1, 2, 3), flatten()]), 'OPTION', /first layer is conv2d: give the shape of a sample/);
    expectError(() => new Sequential([conv2d(3, 2, 3), flatten()], { inputShape: [8, 8, 1] }), 'SHAPE', /conv2d takes \[height, width, 3\].*\[8, 8, 1\]/);
    expectError(() => new Sequential([conv2d(1, 2, 3), dense(5, 2)], { inputShape: [4, 4, 1] }), 'SHAPE', /dense takes \[\.\.\., 5\]/);
  });

  it('a stack of dense layers keeps the nn.Sequential file of Linears', () => {
    const model = new Sequential([dense(4, 3, 'relu'), dense(3, 2)], { inputShape: [4] });
    expect(model.namedParameters().map((p) => p.name)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    expect(Sequential.load(model.save()).namedParameters().map((p) => p.name)).toEqual(['layers.0.weight', 'layers.0.bias', 'layers.1.weight', 'layers.1.bias']);
    model.dispose();
  });
});

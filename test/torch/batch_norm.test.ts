// batchNorm against PyTorch's BatchNorm1d and BatchNorm2d: fixtures from
// test/fixtures/torch/make_batch_norm_fixtures.py (committed; CI needs no PyTorch). The same modules,
// built through simdprop's API, load PyTorch's state_dict (num_batches_tracked an I64 scalar), give its
// outputs in train and eval mode, its loss and gradients, and follow 3 SGD steps: losses, running
// statistics, the counter and the parameters.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { activation, batchNorm, dense, init, input, Model, SGD, type BackendName } from '../../src/index.js';
import { expectClose, mixed, ofTensor } from '../tolerance.js';
import { torchLayout } from './layout.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/torch/${name}`, import.meta.url));

interface BatchNormFixture {
  x: number[];
  y: number[];
  trainOut: number[];
  evalOut: number[];
  loss: number;
  grads: Record<string, number[]>;
  sgd: {
    lr: number; momentum: number; losses: number[]; runningMean: number[]; runningVar: number[]; numBatchesTracked: number;
    params: Record<string, number[]>;
  };
}

const CASES: { name: string; build: () => { inputs: ReturnType<typeof input>; outputs: ReturnType<typeof input> } }[] = [
  {
    // Linear(4, 6) → BatchNorm1d(6) → ReLU → Linear(6, 3) on [8, 4].
    name: 'bn1d',
    build: () => {
      const x = input([4]);
      const h = activation('relu').apply(batchNorm(6, { name: 'bn' }).apply(dense(4, 6, 'linear', { name: 'fc1' }).apply(x)));
      return { inputs: x, outputs: dense(6, 3, 'linear', { name: 'fc2' }).apply(h) };
    },
  },
  {
    // BatchNorm2d(3) on NCHW [2, 3, 4, 4], given here as NHWC [4, 4, 3], then Linear(3, 2) over the channels.
    name: 'bn2d',
    build: () => {
      const x = input([4, 4, 3]);
      return { inputs: x, outputs: dense(3, 2, 'linear', { name: 'fc' }).apply(batchNorm(3, { name: 'bn' }).apply(x)) };
    },
  },
];

beforeAll(async () => {
  await init({ threads: 1 });
});

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expectClose(actual, expected, ofTensor(expected, rel), what);
}

const counter = (model: Model): bigint[] => Array.from(model.stateDict().find((t) => t.name === 'bn.num_batches_tracked')!.data as BigInt64Array);
const values = (model: Model, name: string): Float32Array => model.stateDict().find((t) => t.name === name)!.data as Float32Array;

describe.each(['wasm', 'js'] as BackendName[])('batchNorm against PyTorch (%s)', (backend) => {
  for (const { name, build } of CASES) {
    const data = JSON.parse(fixture(`${name}.json`).toString('utf8')) as BatchNormFixture;
    const loaded = (): Model => {
      const model = new Model(build(), { seed: 1, backend });
      expect(model.loadStateDict(fixture(`${name}.safetensors`))).toEqual({ missingKeys: [], unexpectedKeys: [] });
      return model;
    };
    const x = Float32Array.from(data.x);
    const y = Float32Array.from(data.y);

    it(`${name}: the state_dict's counter loads as an int64, and training mode gives PyTorch's outputs, loss and gradients`, () => {
      const model = loaded();
      expect(counter(model)).toEqual([5n]);
      expectNear(model.forward(x) as Float32Array, data.trainOut, 1e-5, 'train-mode output');
      expect(counter(model)).toEqual([6n]);
      expectNear([model.loss('mse', y)], [data.loss], 1e-5, 'loss');
      model.backward();
      const parameters = model.namedParameters();
      expect(parameters.map((p) => p.name).sort()).toEqual(Object.keys(data.grads).sort());
      for (const parameter of parameters) {
        const grad = torchLayout(model, parameter.name, parameter.grad);
        // fc1's bias feeds the batch norm, which takes out every channel's mean: its gradient is 0, and
        // both sides hold only rounding (about 1e-8), so it is compared against the other gradients' scale.
        if (parameter.name === 'fc1.bias') expectClose(grad, data.grads[parameter.name], mixed(1e-6, 0), 'gradient of fc1.bias (0 but rounding)');
        else expectNear(grad, data.grads[parameter.name], 1e-4, `gradient of ${parameter.name}`);
      }
      model.dispose();
    });

    it(`${name}: eval mode normalizes with the loaded running statistics, as PyTorch's`, () => {
      const model = loaded().eval();
      expectNear(model.forward(x) as Float32Array, data.evalOut, 1e-5, 'eval-mode output');
      expect(counter(model)).toEqual([5n]);
      model.dispose();
    });

    it(`${name}: three SGD steps follow PyTorch's losses, running statistics, counter and parameters`, () => {
      const model = loaded();
      const optimizer = new SGD(model, { lr: data.sgd.lr, momentum: data.sgd.momentum });
      const losses = data.sgd.losses.map(() => model.trainStep(x, y, { loss: 'mse', optimizer }));
      expectNear(losses, data.sgd.losses, 1e-5, 'losses');
      expectNear(values(model, 'bn.running_mean'), data.sgd.runningMean, 1e-5, 'running_mean');
      expectNear(values(model, 'bn.running_var'), data.sgd.runningVar, 1e-5, 'running_var');
      expect(counter(model)).toEqual([BigInt(data.sgd.numBatchesTracked)]);
      for (const [parameter, expected] of Object.entries(data.sgd.params)) expectNear(values(model, parameter), expected, 1e-4, parameter);
      model.dispose();
    });
  }
});

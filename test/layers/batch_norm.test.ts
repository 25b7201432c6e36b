// batchNorm through the shared harness (channels last, on [H, W, C], [C] and fanned out), and what
// is its own: training against eval mode, the running statistics against a float64 reference, buffers
// the optimizer leaves alone, files that keep num_batches_tracked as int64, and the n = 1 refusal.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add, AdamW, batchNorm, dense, earlyStopping, flatten, gradCheck, init, input, Model, multiply, activation, Rng, SGD,
  type Callback,
} from '../../src/index.js';
import { parseSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { expectError } from '../expect-error.js';
import { expectClose, relative } from '../tolerance.js';
import { checkGraph, indices, normals } from './harness.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe('batchNorm through the harness', () => {
  checkGraph({
    name: 'batchNorm on [4, 4, 5] (dense 3→5 without bias — batch norm would cancel it —, batchNorm, relu, flatten, dense)',
    graph: () => {
      const x = input([4, 4, 3]);
      const h = activation('relu').apply(batchNorm(5).apply(dense(3, 5, 'linear', { bias: false }).apply(x)));
      return { inputs: x, outputs: dense(80, 2).apply(flatten().apply(h)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 48),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
    rows: 3,
  });
  checkGraph({
    name: 'batchNorm on [C] features',
    graph: () => {
      const x = input([6]);
      return { inputs: x, outputs: dense(4, 3).apply(batchNorm(4, { momentum: 0.3, name: 'bn' }).apply(dense(6, 4, 'linear', { bias: false }).apply(x))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 6, 3),
    targets: (rows, rng) => indices(rng, rows, 3),
    loss: 'softmaxCrossEntropy',
    rows: 6,
  });
  checkGraph({
    name: 'batchNorm read twice (n + n·n), without affine parameters, on [3, 5]',
    graph: () => {
      const x = input([3, 4]);
      const n = batchNorm(5, { affine: false }).apply(dense(4, 5, 'linear', { bias: false }).apply(x));
      return { inputs: x, outputs: dense(5, 2).apply(add(n, multiply(n, n))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 12),
    targets: (rows, rng) => normals(rng, rows * 6),
    loss: 'mse',
  });

  it('eval mode: backward agrees with float64 central differences (the running statistics are constants)', () => {
    for (const backend of ['js', 'wasm'] as const) {
      const x = input([2, 3]);
      const model = new Model({ inputs: x, outputs: dense(3, 2).apply(batchNorm(3).apply(dense(3, 3).apply(x))) }, { seed: 3, backend });
      model.forward(normals(new Rng(5), 4 * 6, 2));
      model.eval();
      const result = gradCheck(model, normals(new Rng(6), 4 * 6), normals(new Rng(7), 4 * 4), { loss: 'mse' });
      expect(result.parameters.filter((p) => !p.passed).map((p) => p.name), backend).toEqual([]);
      expect(result.passed).toBe(true);
      model.dispose();
    }
  });
});

// input [2, 3] → batchNorm(3): 2 positions a sample, so a batch of 4 gives 8 values per channel.
function normOnly(backend: 'wasm' | 'js', momentum = 0.1): Model {
  const x = input([2, 3]);
  return new Model({ inputs: x, outputs: batchNorm(3, { momentum, name: 'bn' }).apply(x) }, { seed: 1, backend });
}

const tensor = (model: Model, name: string) => model.stateDict().find((t) => t.name === name)!.data;
const bits = (values: Float32Array): Uint32Array => new Uint32Array(Float32Array.from(values).buffer);

/** PyTorch's update, in float64: the batch's mean and unbiased variance per channel. */
function referenceRunning(batches: Float32Array[], channels: number, momentum: number): { mean: number[]; variance: number[] } {
  const mean = Array<number>(channels).fill(0);
  const variance = Array<number>(channels).fill(1);
  for (const x of batches) {
    const n = x.length / channels;
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let i = c; i < x.length; i += channels) sum += x[i];
      const m = sum / n;
      let squares = 0;
      for (let i = c; i < x.length; i += channels) squares += (x[i] - m) ** 2;
      mean[c] = (1 - momentum) * mean[c] + momentum * m;
      variance[c] = (1 - momentum) * variance[c] + momentum * squares / (n - 1);
    }
  }
  return { mean, variance };
}

describe.each(['wasm', 'js'] as const)('batchNorm on its own (%s)', (backend) => {
  const batches = [1, 2, 3].map((seed) => Float32Array.from(normals(new Rng(seed), 4 * 6, 2), (v, i) => v + (i % 3) * 10));

  it('training normalizes by the batch, eval by the running statistics, which the training forwards moved', () => {
    const model = normOnly(backend, 0.25);
    // Fresh: running mean 0, var 1, so eval is x/√(1 + eps).
    model.eval();
    expectClose(model.forward(batches[0]) as Float32Array, Array.from(batches[0], (v) => v / Math.sqrt(1 + 1e-5)), relative(1e-6), 'fresh eval');
    model.train();
    for (const x of batches) {
      const out = model.forward(x) as Float32Array;
      // Each channel of a training output has mean 0 and biased variance 1 (to eps).
      for (let c = 0; c < 3; c++) {
        const column = Array.from(out).filter((_, i) => i % 3 === c);
        expect(Math.abs(column.reduce((a, b) => a + b, 0) / 8)).toBeLessThan(1e-6);
        expect(column.reduce((a, b) => a + b * b, 0) / 8).toBeCloseTo(1, 4);
      }
    }
    const reference = referenceRunning(batches, 3, 0.25);
    expectClose(tensor(model, 'bn.running_mean') as Float32Array, reference.mean, relative(1e-6), 'running_mean');
    expectClose(tensor(model, 'bn.running_var') as Float32Array, reference.variance, relative(1e-6), 'running_var');
    expect(Array.from(tensor(model, 'bn.num_batches_tracked') as BigInt64Array)).toEqual([3n]);
    model.eval();
    const x = batches[0];
    const expected = Array.from(x, (v, i) => (v - reference.mean[i % 3]) / Math.sqrt(reference.variance[i % 3] + 1e-5));
    expectClose(model.forward(x) as Float32Array, expected, relative(1e-5), 'eval output from the running statistics');
    // Eval forwards and predict() leave the statistics alone.
    model.predict(x);
    expect(Array.from(tensor(model, 'bn.num_batches_tracked') as BigInt64Array)).toEqual([3n]);
    model.dispose();
  });

  it('the optimizer (weight decay, clipping) leaves the buffers alone: they move only by the training forwards', () => {
    const stepped = new Model((() => {
      const x = input([2, 3]);
      return { inputs: x, outputs: dense(3, 2).apply(batchNorm(3, { name: 'bn' }).apply(x)) };
    })(), { seed: 1, backend });
    const forwarded = normOnly(backend);
    const optimizer = new AdamW(stepped, { lr: 0.1, weightDecay: 0.5 });
    for (const x of batches) {
      stepped.trainStep(x, normals(new Rng(9), 4 * 4), { loss: 'mse', optimizer });
      forwarded.forward(x);
    }
    for (const name of ['bn.running_mean', 'bn.running_var']) {
      expect(bits(tensor(stepped, name) as Float32Array), name).toEqual(bits(tensor(forwarded, name) as Float32Array));
    }
    expect(Array.from(tensor(stepped, 'bn.num_batches_tracked') as BigInt64Array)).toEqual([3n]);
    // The parameters did train (the weight and bias are tagged noDecay).
    expect(Array.from(tensor(stepped, 'bn.weight') as Float32Array)).not.toEqual([1, 1, 1]);
    expect(stepped.namedParameters().filter((p) => p.name.startsWith('bn.')).map((p) => p.tags)).toEqual([['weight', 'noDecay'], ['bias', 'noDecay']]);
    stepped.dispose();
    forwarded.dispose();
  });

  it('save() writes num_batches_tracked as I64 [] and Model.load and loadStateDict bring every buffer back, exactly', () => {
    const model = normOnly(backend);
    for (const x of batches) model.forward(x);
    const bytes = model.save();
    const header = parseSafetensors(bytes).tensors;
    expect(header.get('bn.num_batches_tracked')).toMatchObject({ dtype: 'I64', shape: [] });
    expect(header.get('bn.running_var')).toMatchObject({ dtype: 'F32', shape: [3] });
    expect([...header.keys()].filter((k) => k.startsWith('bn.'))).toEqual(['bn.weight', 'bn.bias', 'bn.running_mean', 'bn.running_var', 'bn.num_batches_tracked']);
    const loaded = Model.load(bytes, { backend });
    const fresh = normOnly(backend);
    fresh.loadStateDict(bytes);
    for (const other of [loaded, fresh]) {
      model.stateDict().forEach((t, i) => expect(Array.from(other.stateDict()[i].data as ArrayLike<unknown>), t.name).toEqual(Array.from(t.data as ArrayLike<unknown>)));
      // And they go on alike: the same next forward, the counter at 4.
      expect(bits(other.forward(batches[1]) as Float32Array)).toEqual(bits((model.forward(batches[1]) as Float32Array).slice()));
      expect(Array.from(tensor(other, 'bn.num_batches_tracked') as BigInt64Array)).toEqual([4n]);
      model.loadStateDict(bytes);
    }
    // A PyTorch file's counter beyond float32's integers stays exact, and a float one is refused.
    const state = Object.fromEntries(model.stateDict().map((t) => [t.name, t]));
    const torchFile = (counter: { dtype: 'I64'; data: BigInt64Array } | { dtype: 'F32'; data: Float32Array }) => writeSafetensors(
      [...['weight', 'bias', 'running_mean', 'running_var'].map((k): [string, { dtype: 'F32'; shape: number[]; data: Float32Array }] =>
        [`bn.${k}`, { dtype: 'F32', shape: [3], data: state[`bn.${k}`].data as Float32Array }]),
      ['bn.num_batches_tracked', { ...counter, shape: [] }]], {});
    fresh.loadStateDict(torchFile({ dtype: 'I64', data: BigInt64Array.of(2n ** 40n + 1n) }));
    fresh.forward(batches[0]);
    expect(Array.from(tensor(fresh, 'bn.num_batches_tracked') as BigInt64Array)).toEqual([2n ** 40n + 2n]);
    expectError(() => fresh.loadStateDict(torchFile({ dtype: 'F32', data: Float32Array.of(3) })), 'FILE', /num_batches_tracked" is F32.*int64/);
    expect(Array.from(tensor(fresh, 'bn.num_batches_tracked') as BigInt64Array)).toEqual([2n ** 40n + 2n]);
    [model, loaded, fresh].forEach((m) => m.dispose());
  });

  it('one value per channel in training is refused before anything runs, the model left bit-identical', () => {
    const x = input([3]);
    const model = new Model({ inputs: x, outputs: dense(3, 2).apply(batchNorm(3, { name: 'bn' }).apply(x)) }, { seed: 1, backend });
    const optimizer = new SGD(model, { lr: 0.1 });
    model.trainStep(normals(new Rng(1), 6), normals(new Rng(2), 4), { loss: 'mse', optimizer });
    const block = (): Uint32Array => new Uint32Array(model.backend.heap.f32.slice(model.paramsPointer >> 2, (model.paramsPointer + model.blockBytes) >> 2).buffer);
    const before = block();
    const message = /batchNorm "bn" expected more than 1 value per channel when training, got a batch of 1 sample/;
    expectError(() => model.trainStep(normals(new Rng(3), 3), normals(new Rng(4), 2), { loss: 'mse', optimizer }), 'SHAPE', message);
    expectError(() => model.forward(normals(new Rng(3), 3)), 'SHAPE', message);
    expect(block()).toEqual(before);
    expect(optimizer.stepCount).toBe(1);
    // fit refuses a last batch of one before its first step.
    return model.fit(normals(new Rng(5), 9), normals(new Rng(6), 6), { loss: 'mse', optimizer, batchSize: 2, epochs: 1 }).then(
      () => expect.unreachable('fit trained on a batch of one'),
      (error) => {
        expect(String(error)).toMatch(message);
        expect(block()).toEqual(before);
        // In eval mode one sample is fine, and a sample with several positions trains alone.
        model.eval();
        expect((model.forward(normals(new Rng(3), 3)) as Float32Array).every(Number.isFinite)).toBe(true);
        const y = input([2, 3]);
        const positions = new Model({ inputs: y, outputs: batchNorm(3).apply(y) }, { backend });
        expect((positions.forward(normals(new Rng(3), 6)) as Float32Array).every(Number.isFinite)).toBe(true);
        positions.dispose();
        model.dispose();
      },
    );
  });

  it('early stopping\'s restoreBestWeights brings back the best epoch\'s running statistics too', async () => {
    const model = normOnly(backend);
    const atEpoch: Float32Array[] = [];
    const record: Callback = { onEpochEnd: () => void atEpoch.push(Float32Array.from(tensor(model, 'bn.running_mean') as Float32Array)) };
    const x = Float32Array.from(batches.flatMap((b) => Array.from(b)));
    // The loss (mse of the normalized x against 0) falls as the weight shrinks: with 'max' epoch 0 is the best.
    const history = await model.fit(x, new Float32Array(x.length), {
      loss: 'mse', optimizer: new SGD(model, { lr: 0.1 }), batchSize: 4, epochs: 3, shuffle: true,
      callbacks: [record, earlyStopping({ monitor: 'loss', mode: 'max', patience: 5, restoreBestWeights: true })],
    });
    expect(history.loss[0]).toBeGreaterThan(Math.max(history.loss[1], history.loss[2]));
    expect(atEpoch.length).toBe(3);
    expect(bits(atEpoch[2])).not.toEqual(bits(atEpoch[0]));
    expect(bits(tensor(model, 'bn.running_mean') as Float32Array)).toEqual(bits(atEpoch[0]));
    expect(Array.from(tensor(model, 'bn.num_batches_tracked') as BigInt64Array)).toEqual([3n]);
    model.dispose();
  });

  it('a taped step re-records when the mode changes: train, eval, train steps bit-identical to call by call', () => {
    if (backend === 'js') return;
    const make = (): Model => {
      const x = input([2, 3]);
      return new Model({ inputs: x, outputs: dense(3, 2).apply(batchNorm(3, { name: 'bn' }).apply(x)) }, { seed: 1, backend });
    };
    const [taped, plain] = [make(), make()];
    (plain as unknown as { tapeFor: () => undefined }).tapeFor = () => undefined;
    const [first, second] = [new SGD(taped, { lr: 0.1 }), new SGD(plain, { lr: 0.1 })];
    const y = normals(new Rng(9), 4 * 4);
    for (const mode of ['train', 'train', 'eval', 'eval', 'train'] as const) {
      taped[mode]();
      plain[mode]();
      const a = taped.trainStep(batches[0], y, { loss: 'mse', optimizer: first });
      const b = plain.trainStep(batches[0], y, { loss: 'mse', optimizer: second });
      expect(Object.is(a, b), `${mode}: ${a} against ${b}`).toBe(true);
    }
    taped.stateDict().forEach((t, i) => expect(Array.from(t.data as ArrayLike<unknown>), t.name).toEqual(Array.from(plain.stateDict()[i].data as ArrayLike<unknown>)));
    expect(Array.from(tensor(taped, 'bn.num_batches_tracked') as BigInt64Array)).toEqual([3n]);
    taped.dispose();
    plain.dispose();
  });

  it('a bad option is an OPTION error, an input without the channels last a SHAPE error naming both shapes', () => {
    expectError(() => batchNorm(0), 'OPTION', /batchNorm channels must be a positive integer, got .*0/);
    expectError(() => batchNorm(2.5), 'OPTION', /channels must be a positive integer/);
    expectError(() => batchNorm(4, { eps: 0 }), 'OPTION', /eps must be a positive finite number/);
    expectError(() => batchNorm(4, { momentum: 1.5 }), 'OPTION', /momentum must be a number in \[0, 1\]/);
    expectError(() => batchNorm(4, { momentum: -0.1 }), 'OPTION', /momentum/);
    expectError(() => batchNorm(4, { name: 'bn1' }).apply(input([3, 5])), 'SHAPE', /batchNorm "bn1" takes \[\.\.\., 4\] \(channels last\), but input 0 is \[3, 5\]/);
  });
});

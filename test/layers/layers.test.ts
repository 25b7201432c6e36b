// Every layer kind through the shared harness (test/layers/harness.ts), in graphs that exercise
// fan-out (a tensor read by several layers sums their gradients), shared weights (a layer applied
// twice), N-D shapes and several inputs and outputs; then each kind's bad shapes.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activation, add, concat, customLayer, dense, dropout, embedding, flatten, init, input, layerNorm, Model, multiply, reshape,
  SimdpropError, type ActivationName,
} from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { checkGraph, indices, normals } from './harness.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe('dense on the last axis of [T, C] samples, as nn.Linear on [B, T, C]', () => {
  checkGraph({
    name: 'dense on [3, 5]',
    graph: () => {
      const x = input([3, 5]);
      return { inputs: x, outputs: dense(4, 2).apply(dense(5, 4, 'tanh').apply(x)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 15),
    targets: (rows, rng) => normals(rng, rows * 6),
    loss: 'mse',
  });
});

describe('activation layers on their own (a dense output read twice, so nothing fuses)', () => {
  for (const name of ['relu', 'leakyRelu', 'sigmoid', 'tanh', 'gelu', 'softmax', 'linear'] as ActivationName[]) {
    checkGraph({
      name: `activation ${name}`,
      graph: () => {
        const x = input([4]);
        const h = dense(4, 6).apply(x);
        const a = activation(name, { negativeSlope: 0.1 }).apply(h);
        return { inputs: x, outputs: dense(6, 2).apply(add(a, h)) };
      },
      inputs: (rows, rng) => normals(rng, rows * 4),
      targets: (rows, rng) => normals(rng, rows * 2),
      loss: 'mse',
    });
  }

  it('after a linear dense layer read by nothing else, fuses into it', () => {
    const x = input([4]);
    const model = new Model({ inputs: x, outputs: activation('gelu').apply(dense(4, 3).apply(x)) }, { backend: 'js' });
    expect(model.plan.nodes.length).toBe(1);
    expect(model.plan.layers.map((layer) => layer.kind)).toEqual(['dense', 'activation']);
    model.dispose();
  });
});

describe('fused dense and activation', () => {
  checkGraph({
    name: 'dense then activation(tanh), fused',
    graph: () => {
      const x = input([5]);
      return { inputs: x, outputs: dense(6, 3).apply(activation('tanh').apply(dense(5, 6).apply(x))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 5),
    targets: (rows, rng) => normals(rng, rows * 3),
    loss: 'mse',
  });
});

describe('dropout in a graph', () => {
  checkGraph({
    name: 'dropout between two dense layers, and its input read again',
    graph: () => {
      const x = input([6]);
      const h = dense(6, 8, 'relu').apply(x);
      return { inputs: x, outputs: dense(8, 3).apply(add(dropout(0.3).apply(h), h)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 6),
    targets: (rows, rng) => indices(rng, rows, 3),
    loss: 'softmaxCrossEntropy',
  });
});

describe('add', () => {
  checkGraph({
    name: 'add of three, one tensor read three times',
    graph: () => {
      const x = input([5]);
      const u = dense(5, 6, 'tanh').apply(x);
      const v = dense(6, 6).apply(u);
      return { inputs: x, outputs: dense(6, 2).apply(add(u, v, u)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 5),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
  });
});

describe('multiply', () => {
  checkGraph({
    name: 'a sigmoid gate times a value, and a tensor times itself',
    graph: () => {
      const x = input([4]);
      const gate = dense(4, 5, 'sigmoid').apply(x);
      const value = dense(4, 5).apply(x);
      const gated = multiply(gate, value);
      return { inputs: x, outputs: dense(5, 3).apply(add(gated, multiply(value, value))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 4),
    targets: (rows, rng) => normals(rng, rows * 3),
    loss: 'huber',
  });
});

describe('concat', () => {
  checkGraph({
    name: 'concat on the last axis, one input twice',
    graph: () => {
      const x = input([2, 3]);
      const a = dense(3, 4, 'gelu').apply(x);
      const b = dense(3, 1).apply(x);
      return { inputs: x, outputs: dense(9, 2).apply(concat([a, b, a])) };
    },
    inputs: (rows, rng) => normals(rng, rows * 6),
    targets: (rows, rng) => normals(rng, rows * 4),
    loss: 'mse',
  });
  checkGraph({
    name: 'concat on axis 0 of [T, C]',
    graph: () => {
      const x = input([2, 3]);
      const a = dense(3, 4, 'tanh').apply(x);
      const b = dense(3, 4).apply(x);
      return { inputs: x, outputs: dense(4, 3).apply(concat([a, b], 0)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 6),
    targets: (rows, rng) => normals(rng, rows * 12),
    loss: 'mse',
  });
});

describe('reshape and flatten', () => {
  checkGraph({
    name: 'flatten [2, 3, 4] into a dense layer, reshape back, read twice',
    graph: () => {
      const x = input([2, 3, 4]);
      const h = dense(4, 4, 'tanh').apply(x);
      const f = dense(24, 12).apply(flatten().apply(h));
      const r = reshape([-1, 4]).apply(f);
      return { inputs: x, outputs: dense(4, 2).apply(add(r, reshape([3, 4]).apply(f))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 24),
    targets: (rows, rng) => normals(rng, rows * 6),
    loss: 'mse',
  });

  it('of a model input: the input gradient comes through the view', () => {
    const x = input([2, 3]);
    const model = new Model({ inputs: x, outputs: dense(6, 2, 'tanh').apply(flatten().apply(x)) }, { seed: 1, backend: 'js' });
    const batch = Float32Array.of(0.1, -0.2, 0.3, 0.4, -0.5, 0.6);
    model.forward(batch);
    model.loss('mse', [[0.2, -0.1]]);
    model.backward();
    const analytical = model.inputGrad().slice();
    for (let i = 0; i < 6; i++) {
      const step = 1e-3;
      const [plus, minus] = [step, -step].map((d) => {
        const shifted = batch.slice();
        shifted[i] += d;
        model.forward(shifted);
        return model.loss('mse', [[0.2, -0.1]]);
      });
      expect(analytical[i]).toBeCloseTo((plus - minus) / (2 * step), 3);
    }
    model.dispose();
  });
});

describe('layerNorm', () => {
  checkGraph({
    name: 'layerNorm in a residual block (x + dense(relu(layerNorm(x))))',
    graph: () => {
      const x = input([3, 6]);
      const h = dense(6, 6).apply(x);
      const block = add(h, dense(6, 6).apply(activation('gelu').apply(layerNorm(6).apply(h))));
      return { inputs: x, outputs: dense(6, 2).apply(layerNorm(6, { eps: 1e-3 }).apply(block)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 18, 2),
    targets: (rows, rng) => normals(rng, rows * 6),
    loss: 'mse',
  });
  checkGraph({
    name: 'layerNorm without affine parameters, read twice',
    graph: () => {
      const x = input([5]);
      const n = layerNorm(7, { elementwiseAffine: false }).apply(dense(5, 7).apply(x));
      return { inputs: x, outputs: dense(7, 3).apply(add(n, multiply(n, n))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 5),
    targets: (rows, rng) => indices(rng, rows, 3),
    loss: 'softmaxCrossEntropy',
  });
});

describe('embedding', () => {
  checkGraph({
    name: 'embedding of [T] tokens, per-position softmax cross-entropy over [T, V] logits',
    graph: () => {
      const tokens = input([4], { dtype: 'int32' });
      const e = embedding(9, 6).apply(tokens);
      return { inputs: tokens, outputs: dense(6, 5).apply(layerNorm(6).apply(e)) };
    },
    inputs: (rows, rng) => indices(rng, rows * 4, 9),
    targets: (rows, rng) => indices(rng, rows * 4, 5),
    loss: 'softmaxCrossEntropy',
  });
  checkGraph({
    name: 'one embedding table for two inputs (shared), repeated tokens',
    graph: () => {
      const a = input([3], { dtype: 'int32', name: 'a' });
      const b = input([3], { dtype: 'int32', name: 'b' });
      const table = embedding(4, 5);
      return { inputs: [a, b], outputs: dense(5, 2).apply(add(table.apply(a), table.apply(b))) };
    },
    inputs: (rows, rng) => [indices(rng, rows * 3, 4), indices(rng, rows * 3, 4)],
    targets: (rows, rng) => normals(rng, rows * 6),
    loss: 'mse',
  });
});

describe('a shared layer: one dense applied twice sums the gradients of both uses', () => {
  checkGraph({
    name: 'dense applied twice',
    graph: () => {
      const x = input([6]);
      const shared = dense(6, 6, 'tanh');
      return { inputs: x, outputs: dense(6, 2).apply(shared.apply(shared.apply(x))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 6),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
  });
});

describe('several inputs and outputs, with weighted losses', () => {
  checkGraph({
    name: 'two inputs by name, two outputs with softmaxCrossEntropy and mse weighted 0.5',
    graph: () => {
      const image = input([5], { name: 'image' });
      const extra = input([2], { name: 'extra' });
      const h = dense(7, 6, 'relu').apply(concat([image, extra]));
      return { inputs: { image, extra }, outputs: { label: dense(6, 3).apply(h), score: dense(6, 1).apply(h) } };
    },
    inputs: (rows, rng) => ({ image: normals(rng, rows * 5), extra: normals(rng, rows * 2) }),
    targets: (rows, rng) => ({ label: indices(rng, rows, 3), score: normals(rng, rows) }),
    loss: { label: 'softmaxCrossEntropy', score: 'mse' },
    lossWeights: { score: 0.5 },
  });
});

describe('a custom layer: forward and backward in JavaScript', () => {
  // y = w ⊙ x² + x, elementwise, with a parameter w per feature.
  const squareScale = () => customLayer({
    kind: 'squareScale',
    parameters: [{ name: 'w', shape: [4], init: { kind: 'uniform', limit: 1 } }],
    forward({ rows, inputs: [x], params: [w], output }) {
      for (let r = 0; r < rows; r++) for (let j = 0; j < 4; j++) output[r * 4 + j] = w[j] * x[r * 4 + j] ** 2 + x[r * 4 + j];
    },
    backward({ rows, inputs: [x], params: [w], outputGrad, inputGrads: [dx], paramGrads: [dw] }) {
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < 4; j++) {
          const g = outputGrad[r * 4 + j];
          const v = x[r * 4 + j];
          if (dx) dx[r * 4 + j] += g * (2 * w[j] * v + 1);
          if (dw) dw[j] += g * v * v;
        }
      }
    },
  });
  checkGraph({
    name: 'custom layer with a parameter, its input read twice',
    graph: () => {
      const x = input([3]);
      const h = dense(3, 4).apply(x);
      return { inputs: x, outputs: dense(4, 2).apply(add(squareScale().apply(h), h)) };
    },
    inputs: (rows, rng) => normals(rng, rows * 3),
    targets: (rows, rng) => normals(rng, rows * 2),
    loss: 'mse',
  });
});

describe('bad shapes and types get a clear error naming the layer', () => {
  const x = input([4, 6]);
  it('dense, layerNorm: the last axis', () => {
    expectError(() => dense(5, 3, 'relu', { name: 'fc' }).apply(x), 'SHAPE', /dense "fc" takes \[\.\.\., 5\], but input 0 is \[4, 6\]/);
    expectError(() => layerNorm(4).apply(x), 'SHAPE', /layerNorm takes \[\.\.\., 4\], but input 0 is \[4, 6\]/);
  });
  it('add, multiply, concat: the two inputs named by the layers that make them', () => {
    const a = dense(6, 3, 'linear', { name: 'left' }).apply(x);
    const b = dense(6, 2, 'linear', { name: 'right' }).apply(x);
    expectError(() => add(a, b), 'SHAPE', /add: the output of dense "left" \[4, 3\] and the output of dense "right" \[4, 2\] differ/);
    expectError(() => multiply(a, b), 'SHAPE', /multiply: the output of dense "left" \[4, 3\] and the output of dense "right" \[4, 2\]/);
    expectError(() => concat([a, dense(6, 3, 'linear', { name: 'other' }).apply(input([5, 6]))]), 'SHAPE', /concat joins along axis -1, so the other axes must agree, but the output of dense "left" \[4, 3\] and the output of dense "other" \[5, 3\] differ/);
    expectError(() => concat([a, b], 3), 'SHAPE', /axis 3 is outside the inputs' rank 2/);
  });
  it('reshape: a shape of another size', () => {
    expectError(() => reshape([5, 5]).apply(x), 'SHAPE', /reshape cannot make \[5, 5\] of an input \[4, 6\] \(24 values per sample\)/);
  });
  it('embedding: float32 indices', () => {
    expectError(() => embedding(10, 4, { name: 'wte' }).apply(x), 'TYPE', /embedding "wte" reads int32 indices, but its input is float32/);
  });
  it('dense on int32 indices', () => {
    expectError(() => dense(3, 2).apply(input([3], { dtype: 'int32' })), 'TYPE', /takes float32 inputs, but input 0 is int32/);
  });
  it('an index out of range is a LABEL error before anything runs', () => {
    const tokens = input([2], { dtype: 'int32' });
    const model = new Model({ inputs: tokens, outputs: dense(3, 2).apply(embedding(5, 3).apply(tokens)) }, { backend: 'js' });
    const before = model.namedParameters().map((p) => p.value.slice());
    expectError(() => model.forward(Int32Array.of(1, 2, 4, 5)), 'LABEL', /x\[3\] is number 5: indices must be integers in \[0, 4\]/);
    expectError(() => model.forward([1, 2.5]), 'LABEL', /x\[1\] is number 2.5/);
    model.namedParameters().forEach((p, i) => expect(Array.from(p.value)).toEqual(Array.from(before[i])));
    model.dispose();
  });
});

describe("the 'mean' loss: a term the model computes, with no targets (a VAE's KL divergence)", () => {
  // KL(N(mu, e^logvar) ‖ N(0, 1)) per sample, as a custom layer over [mu, logvar].
  const kl = () => customLayer({
    kind: 'kl',
    outputShape: () => [1],
    forward({ rows, inputs: [mu, logvar], output }) {
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let j = 0; j < 3; j++) sum += 1 + logvar[r * 3 + j] - mu[r * 3 + j] ** 2 - Math.exp(logvar[r * 3 + j]);
        output[r] = -0.5 * sum;
      }
    },
    backward({ rows, inputs: [mu, logvar], outputGrad, inputGrads: [dMu, dLogvar] }) {
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < 3; j++) {
          if (dMu) dMu[r * 3 + j] += outputGrad[r] * mu[r * 3 + j];
          if (dLogvar) dLogvar[r * 3 + j] += outputGrad[r] * 0.5 * (Math.exp(logvar[r * 3 + j]) - 1);
        }
      }
    },
  });
  checkGraph({
    name: 'reconstruction (mse) and a computed KL term (mean), weighted',
    graph: () => {
      const x = input([4]);
      const h = dense(4, 6, 'tanh').apply(x);
      const mu = dense(6, 3).apply(h);
      const logvar = dense(6, 3).apply(h);
      return { inputs: x, outputs: { recon: dense(3, 4).apply(mu), kl: kl().apply(mu, logvar) } };
    },
    inputs: (rows, rng) => normals(rng, rows * 4),
    targets: (rows, rng) => ({ recon: normals(rng, rows * 4) }),
    loss: { recon: 'mse', kl: 'mean' },
    lossWeights: { recon: 4, kl: 0.5 },
  });
});

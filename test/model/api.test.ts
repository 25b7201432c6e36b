// The model's API beyond training: parameter views, norms, gradients of inputs and of a caller's
// output gradient, prediction in chunks, input forms, memory that grows and is given back.
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, init, Sequential, SGD } from '../../src/index.js';
import { BACKENDS, loadBackends, normalMatrix, randomLabels, sameBits } from './setup.js';

beforeAll(loadBackends);

describe.each(BACKENDS)('the model API on the %s backend', (backend) => {
  it('namedParameters names tensors like PyTorch and gives views into the model', () => {
    const model = new Sequential([dense(3, 4, 'relu'), dense(4, 2)], { seed: 1, backend });
    const parameters = model.namedParameters();
    expect(parameters.map((p) => [p.name, p.shape])).toEqual([
      ['layers.0.weight', [3, 4]], ['layers.0.bias', [4]], ['layers.1.weight', [4, 2]], ['layers.1.bias', [2]],
    ]);
    expect(model.parameterCount).toBe(3 * 4 + 4 + 4 * 2 + 2);
    const x = [[1, -2, 0.5]];
    const before = model.forward(x).slice();
    parameters[3].value[1] += 1;
    const after = model.forward(x);
    expect(after[0]).toBe(before[0]);
    expect(after[1]).toBeCloseTo(before[1] + 1, 5);
    model.dispose();
  });

  it('gradNorms matches the norms computed by hand', () => {
    const model = new Sequential([dense(3, 5, 'tanh'), dense(5, 2)], { seed: 2, backend });
    model.forward(normalMatrix(4, 3, 1));
    model.loss('mse', normalMatrix(4, 2, 2));
    model.backward();
    const norms = model.gradNorms();
    let total = 0;
    model.namedParameters().forEach((p, i) => {
      const squares = p.grad.reduce((s, g) => s + g * g, 0);
      total += squares;
      expect(norms.byParameter[i].name).toBe(p.name);
      expect(norms.byParameter[i].norm).toBeCloseTo(Math.sqrt(squares), 6);
    });
    expect(norms.total).toBeCloseTo(Math.sqrt(total), 6);
    expect(norms.total).toBeGreaterThan(0);
    model.dispose();
  });

  it('inputGrad and backward(dOut) chain two models into the one they make together', () => {
    const whole = new Sequential([dense(4, 6, 'gelu'), dense(6, 3)], { seed: 3, backend });
    const front = new Sequential([dense(4, 6, 'gelu')], { seed: 99, backend });
    const back = new Sequential([dense(6, 3)], { seed: 98, backend });
    const [w0, b0, w1, b1] = whole.namedParameters();
    front.namedParameters()[0].value.set(w0.value);
    front.namedParameters()[1].value.set(b0.value);
    back.namedParameters()[0].value.set(w1.value);
    back.namedParameters()[1].value.set(b1.value);
    const x = normalMatrix(5, 4, 4);
    const labels = randomLabels(5, 3, 5);

    whole.forward(x);
    const wholeLoss = whole.loss('softmaxCrossEntropy', labels);
    whole.backward();
    const hidden = front.forward(x).slice();
    back.forward(hidden);
    expect(back.loss('softmaxCrossEntropy', labels)).toBeCloseTo(wholeLoss, 6);
    back.backward();
    front.backward(back.inputGrad().slice());

    const [fw, fb] = front.namedParameters();
    const [bw, bb] = back.namedParameters();
    const pairs = [[fw, w0], [fb, b0], [bw, w1], [bb, b1]];
    for (const [part, full] of pairs) {
      full.grad.forEach((g, i) => expect(part.grad[i]).toBeCloseTo(g, 6));
      expect(full.grad.some((g) => g !== 0)).toBe(true);
    }
    // dL/dx of the whole network, by hand: dZ0·W0ᵀ equals front's inputGrad.
    expect(front.inputGrad().length).toBe(5 * 4);
    whole.inputGrad().forEach((g, i) => expect(front.inputGrad()[i]).toBeCloseTo(g, 6));
    [whole, front, back].forEach((m) => m.dispose());
  });

  it('inputGrad matches central differences on the input', () => {
    const model = new Sequential([dense(3, 4, 'tanh'), dense(4, 1)], { seed: 6, backend });
    const x = Float32Array.of(0.3, -0.2, 0.5);
    const y = [[0.7]];
    model.forward(x);
    model.loss('mse', y);
    model.backward();
    const analytical = model.inputGrad().slice();
    const eps = 1e-2;
    for (let i = 0; i < 3; i++) {
      const plus = x.slice();
      plus[i] += eps;
      const minus = x.slice();
      minus[i] -= eps;
      model.forward(plus);
      const up = model.loss('mse', y);
      model.forward(minus);
      const down = model.loss('mse', y);
      expect(analytical[i]).toBeCloseTo((up - down) / (2 * eps), 3);
    }
    model.dispose();
  });

  it('backward(dOut) with the loss gradient equals backward() after loss()', () => {
    const a = new Sequential([dense(3, 4, 'sigmoid'), dense(4, 2)], { seed: 7, backend });
    const b = new Sequential([dense(3, 4, 'sigmoid'), dense(4, 2)], { seed: 7, backend });
    const x = normalMatrix(6, 3, 8);
    const y = normalMatrix(6, 2, 9);
    const output = a.forward(x).slice();
    a.loss('mse', y);
    a.backward();
    b.forward(x);
    const dOut = output.map((p, i) => (2 * (p - y[i])) / output.length);
    b.backward(dOut);
    a.namedParameters().forEach((p, i) => p.grad.forEach((g, j) => expect(b.namedParameters()[i].grad[j]).toBeCloseTo(g, 6)));
    a.dispose();
    b.dispose();
  });

  it('predict equals forward, in chunks, and accepts rows or a Float32Array', () => {
    const model = new Sequential([dense(5, 3, 'relu'), dense(3, 2, 'softmax')], { seed: 8, backend });
    const x = normalMatrix(2500, 5, 10);
    const predicted = model.predict(x);
    expect(predicted.length).toBe(2500 * 2);
    const rows = Array.from({ length: 2500 }, (_, r) => Array.from(x.subarray(r * 5, r * 5 + 5)));
    expect(sameBits(model.predict(rows), predicted)).toBe(true);
    const head = model.forward(x.subarray(0, 40)).slice();
    expect(head.length).toBe(16);
    expect(sameBits(head, predicted.subarray(0, 16))).toBe(true);
    expect(predicted[0] + predicted[1]).toBeCloseTo(1, 6);
    model.dispose();
  });

  it('a larger batch moves the model to a larger block and keeps its parameters and momentum', () => {
    const model = new Sequential([dense(4, 3, 'relu'), dense(3, 2)], { seed: 9, backend });
    const optimizer = new SGD(model, { lr: 0.1, momentum: 0.9 });
    model.trainStep(normalMatrix(2, 4, 1), [0, 1], { loss: 'softmaxCrossEntropy', optimizer });
    const small = model.namedParameters().map((p) => p.value.slice());
    const twin = new Sequential([dense(4, 3, 'relu'), dense(3, 2)], { seed: 9, backend });
    const twinOptimizer = new SGD(twin, { lr: 0.1, momentum: 0.9 });
    twin.trainStep(normalMatrix(2, 4, 1), [0, 1], { loss: 'softmaxCrossEntropy', optimizer: twinOptimizer });
    twin.trainStep(normalMatrix(300, 4, 2), randomLabels(300, 2, 3), { loss: 'softmaxCrossEntropy', optimizer: twinOptimizer });
    model.forward(normalMatrix(300, 4, 2)); // grows the block
    model.namedParameters().forEach((p, i) => expect(sameBits(p.value, small[i])).toBe(true));
    model.trainStep(normalMatrix(300, 4, 2), randomLabels(300, 2, 3), { loss: 'softmaxCrossEntropy', optimizer });
    model.namedParameters().forEach((p, i) => expect(sameBits(p.value, twin.namedParameters()[i].value)).toBe(true));
    model.dispose();
    twin.dispose();
  });

  it('dispose gives the memory back', () => {
    const heap = new Sequential([dense(1, 1)], { backend }).backend.heap;
    const baseline = heap.inUseBytes;
    for (let i = 0; i < 50; i++) {
      const model = new Sequential([dense(64, 32, 'relu'), dense(32, 4)], { seed: i, backend });
      new SGD(model, { lr: 0.1, momentum: 0.5 });
      model.forward(normalMatrix(16, 64, i));
      model.dispose();
    }
    expect(heap.inUseBytes).toBe(baseline);
  });

  it('a frozen layer gets no update', () => {
    const model = new Sequential([dense(3, 4, 'relu'), dense(4, 2)], { seed: 10, backend });
    model.layers[0].trainable = false;
    const optimizer = new SGD(model, { lr: 0.5, momentum: 0.9, weightDecay: 0.1 });
    const before = model.namedParameters().map((p) => p.value.slice());
    model.trainStep(normalMatrix(4, 3, 1), [0, 1, 0, 1], { loss: 'softmaxCrossEntropy', optimizer });
    const after = model.namedParameters();
    expect(sameBits(after[0].value, before[0])).toBe(true);
    expect(sameBits(after[1].value, before[1])).toBe(true);
    expect(after[0].grad.every((g) => g === 0)).toBe(true);
    expect(sameBits(after[2].value, before[2])).toBe(false);
    model.dispose();
  });

  // trainStep writes the gradients it computes instead of zeroing and adding: they must be those of
  // zeroGrad, forward, loss and backward, and a layer frozen after it trained must read 0.
  it('trainStep leaves the gradients zeroGrad and backward give, and 0 for a layer frozen after training', () => {
    const x = normalMatrix(6, 3, 2);
    const y = [0, 1, 1, 0, 1, 0];
    const model = new Sequential([dense(3, 5, 'tanh'), dense(5, 4, 'relu'), dense(4, 2)], { seed: 11, backend });
    const optimizer = new SGD(model, { lr: 0.1 });
    const options = { loss: 'softmaxCrossEntropy' as const, optimizer };
    model.trainStep(x, y, options);
    model.layers[1].trainable = false;
    const weights = model.namedParameters().map((p) => p.value.slice());
    model.trainStep(x, y, options);
    const grads = model.namedParameters().map((p) => Array.from(p.grad, (g) => g + 0));
    expect(grads[2].every((g) => g === 0) && grads[3].every((g) => g === 0)).toBe(true);
    expect(grads[4].some((g) => g !== 0) && grads[0].some((g) => g !== 0)).toBe(true);
    // The same gradients by the PyTorch-style calls, at the weights the step started from.
    model.namedParameters().forEach((p, i) => p.value.set(weights[i]));
    optimizer.zeroGrad();
    model.forward(x);
    model.loss('softmaxCrossEntropy', y);
    model.backward();
    expect(model.namedParameters().map((p) => Array.from(p.grad, (g) => g + 0))).toEqual(grads);
    model.dispose();
  });
});

it('init reports the backend and can switch the default', async () => {
  expect(await init({ backend: 'js' })).toMatchObject({ backend: 'js', description: 'pure JS' });
  expect(new Sequential([dense(1, 1)]).backend.name).toBe('js');
  expect(await init()).toMatchObject({ backend: 'wasm', description: expect.stringMatching(/^wasm simd128/) });
  expect(new Sequential([dense(1, 1)]).backend.name).toBe('wasm');
  await expect(init({ backend: 'gpu' as 'js' })).rejects.toThrow(/unknown backend "gpu"/);
});

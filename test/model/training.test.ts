// Training end to end: the classic demo learns, both backends follow the same trajectory, gradients
// accumulate like PyTorch's, fit handles a short last batch, and seeds make runs repeatable.
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, getBackend, linearlySeparable, Rng, Sequential, SGD } from '../../src/index.js';
import { BACKENDS, loadBackends, normalMatrix, randomLabels, sameBits } from './setup.js';

beforeAll(loadBackends);

describe.each(BACKENDS)('training on the %s backend', (backend) => {
  it('the classic demo (2-4-1, BCE, SGD 0.1, 1000 epochs) reaches ≥ 95% training accuracy', async () => {
    const { x, y } = linearlySeparable(100, 42);
    const model = new Sequential([dense(2, 4, 'relu'), dense(4, 1, 'sigmoid')], { seed: 1, backend });
    const optimizer = new SGD(model, { lr: 0.1 });
    const history = await model.fit(x, y, { epochs: 1000, batchSize: 100, loss: 'bce', optimizer, shuffle: false });
    expect(history.loss).toHaveLength(1000);
    expect(history.loss[999]).toBeLessThan(history.loss[0] / 4);
    const predictions = model.predict(x);
    let correct = 0;
    for (let r = 0; r < 100; r++) if ((predictions[r] > 0.5 ? 1 : 0) === y[r]) correct++;
    expect(correct).toBeGreaterThanOrEqual(95);
    model.dispose();
  });

  it('a forgotten zeroGrad doubles the gradients exactly', () => {
    const model = new Sequential([dense(7, 9, 'tanh'), dense(9, 4)], { seed: 2, backend });
    const x = normalMatrix(13, 7, 3);
    const labels = randomLabels(13, 4, 4);
    const pass = (): void => {
      model.forward(x);
      model.loss('softmaxCrossEntropy', labels);
      model.backward();
    };
    pass();
    const once = model.namedParameters().map((p) => p.grad.slice());
    pass();
    const twice = model.namedParameters().map((p) => p.grad.slice());
    once.forEach((grad, i) => {
      expect(grad.some((g) => g !== 0)).toBe(true);
      expect(sameBits(twice[i], grad.map((g) => 2 * g))).toBe(true);
    });
    new SGD(model, { lr: 0.1 }).zeroGrad();
    expect(model.namedParameters().every((p) => p.grad.every((g) => g === 0))).toBe(true);
    model.dispose();
  });

  it('fit with a short last batch equals the same steps taken by hand', async () => {
    const x = normalMatrix(10, 3, 5);
    const y = normalMatrix(10, 2, 6);
    const byFit = new Sequential([dense(3, 5, 'relu'), dense(5, 2)], { seed: 4, backend });
    const byHand = new Sequential([dense(3, 5, 'relu'), dense(5, 2)], { seed: 4, backend });
    const fitOptimizer = new SGD(byFit, { lr: 0.05, momentum: 0.9 });
    const handOptimizer = new SGD(byHand, { lr: 0.05, momentum: 0.9 });
    const history = await byFit.fit(x, y, { epochs: 2, batchSize: 4, loss: 'mse', optimizer: fitOptimizer, shuffle: false });
    const losses: number[] = [];
    for (let epoch = 0; epoch < 2; epoch++) {
      let total = 0;
      for (const [start, rows] of [[0, 4], [4, 4], [8, 2]]) {
        total += rows * byHand.trainStep(x.subarray(start * 3, (start + rows) * 3), y.subarray(start * 2, (start + rows) * 2),
          { loss: 'mse', optimizer: handOptimizer });
      }
      losses.push(total / 10);
    }
    expect(history.loss).toEqual(losses);
    const fitted = byFit.namedParameters();
    byHand.namedParameters().forEach((p, i) => expect(sameBits(fitted[i].value, p.value)).toBe(true));
    byFit.dispose();
    byHand.dispose();
  });

  it('shuffled fit takes each epoch\'s batches in the order its seed shuffles the rows to', async () => {
    const x = normalMatrix(10, 3, 7);
    const y = normalMatrix(10, 2, 8);
    const byFit = new Sequential([dense(3, 5, 'tanh'), dense(5, 2)], { seed: 4, backend });
    const byHand = new Sequential([dense(3, 5, 'tanh'), dense(5, 2)], { seed: 4, backend });
    const history = await byFit.fit(x, y, { epochs: 3, batchSize: 4, loss: 'mse', optimizer: new SGD(byFit, { lr: 0.05 }), seed: 11 });
    const optimizer = new SGD(byHand, { lr: 0.05 });
    const order = Int32Array.from({ length: 10 }, (_, r) => r);
    const rng = new Rng(11);
    const losses: number[] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      rng.shuffle(order);
      let total = 0;
      for (const [start, rows] of [[0, 4], [4, 4], [8, 2]]) {
        const picked = [...order.subarray(start, start + rows)];
        const xb = Float32Array.from(picked.flatMap((r) => [...x.subarray(r * 3, r * 3 + 3)]));
        const yb = Float32Array.from(picked.flatMap((r) => [...y.subarray(r * 2, r * 2 + 2)]));
        total += rows * byHand.trainStep(xb, yb, { loss: 'mse', optimizer });
      }
      losses.push(total / 10);
    }
    expect(history.loss).toEqual(losses);
    const fitted = byFit.namedParameters();
    byHand.namedParameters().forEach((p, i) => expect(sameBits(fitted[i].value, p.value)).toBe(true));
    byFit.dispose();
    byHand.dispose();
  });

  it('shuffled fit is repeatable for a seed and differs across seeds', async () => {
    const x = normalMatrix(40, 4, 1);
    const labels = randomLabels(40, 3, 2);
    const train = async (seed: number): Promise<number[]> => {
      const model = new Sequential([dense(4, 6, 'relu'), dense(6, 3)], { seed: 8, backend });
      const history = await model.fit(x, labels, {
        epochs: 3, batchSize: 8, loss: 'softmaxCrossEntropy', optimizer: new SGD(model, { lr: 0.1 }), seed,
      });
      model.dispose();
      return history.loss;
    };
    const first = await train(1);
    expect(await train(1)).toEqual(first);
    expect(await train(2)).not.toEqual(first);
  });

  it('the same seed gives the same weights; another seed, others', () => {
    const make = (seed: number): Sequential => new Sequential([dense(5, 6, 'relu'), dense(6, 2, 'sigmoid')], { seed, backend });
    const [a, b, c] = [make(3), make(3), make(4)];
    const weights = (m: Sequential): Float32Array[] => m.namedParameters().map((p) => p.value.slice());
    expect(weights(b)).toEqual(weights(a));
    expect(weights(c)[0]).not.toEqual(weights(a)[0]);
    // He init for relu: std √(2/5); Glorot uniform for sigmoid: |w| ≤ √(6/8); biases start at zero.
    const [w0, b0, w1] = weights(a);
    expect(Math.max(...w1.map(Math.abs))).toBeLessThanOrEqual(Math.sqrt(6 / 8));
    expect(b0.every((v) => v === 0)).toBe(true);
    const std = Math.sqrt(w0.reduce((s, v) => s + v * v, 0) / w0.length);
    expect(std).toBeGreaterThan(0.3);
    expect(std).toBeLessThan(1);
    [a, b, c].forEach((m) => m.dispose());
  });
});

it('wasm and js follow the same loss trajectory for 20 seeded steps (within float32 tolerance)', () => {
  const x = normalMatrix(32, 20, 11);
  const labels = randomLabels(32, 5, 12);
  const trajectory = (backend: 'wasm' | 'js'): { losses: number[]; params: Float32Array[] } => {
    const model = new Sequential([dense(20, 16, 'gelu'), dense(16, 12, 'tanh'), dense(12, 5)], { seed: 21, backend });
    const optimizer = new SGD(model, { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 1e-4 });
    const losses: number[] = [];
    for (let step = 0; step < 20; step++) {
      const start = (step % 4) * 8;
      losses.push(model.trainStep(x.subarray(start * 20, (start + 8) * 20), labels.subarray(start, start + 8),
        { loss: 'softmaxCrossEntropy', optimizer }));
    }
    const params = model.namedParameters().map((p) => p.value.slice());
    model.dispose();
    return { losses, params };
  };
  const wasm = trajectory('wasm');
  const js = trajectory('js');
  expect(wasm.losses[19]).toBeLessThan(wasm.losses[0]);
  wasm.losses.forEach((loss, i) => expect(Math.abs(loss - js.losses[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(loss))));
  wasm.params.forEach((p, i) => p.forEach((v, j) => expect(Math.abs(v - js.params[i][j])).toBeLessThan(1e-4)));
  expect(getBackend('wasm').heap).not.toBe(getBackend('js').heap);
});

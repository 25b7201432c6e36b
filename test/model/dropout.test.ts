// Dropout: seeded inverted dropout in training mode, inert in eval mode, gradient-checked, saved and loaded.
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, dropout, gradCheck, init, Sequential, SGD } from '../../src/index.js';
import { BACKENDS, normalMatrix, randomLabels, sameBits } from './setup.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe.each(BACKENDS)('dropout on the %s backend', (backend) => {
  const withDropout = (seed = 1): Sequential =>
    new Sequential([dense(6, 32, 'relu'), dropout(0.5), dense(32, 16, 'tanh'), dropout(0.25), dense(16, 3)], { seed, backend });

  it('passes gradCheck in training mode (the masks stay fixed between forward and backward)', () => {
    const model = withDropout();
    expect(model.training).toBe(true);
    const result = gradCheck(model, normalMatrix(5, 6, 1), randomLabels(5, 3, 2), { loss: 'softmaxCrossEntropy' });
    expect(result.maxRelativeError).toBeLessThan(1e-3);
    expect(result.passed).toBe(true);
    model.dispose();
  });

  it('zeroes about rate of the units and rescales the rest by 1/(1 − rate) in training; changes nothing in eval mode', () => {
    const model = withDropout(2);
    const plain = new Sequential([dense(6, 32, 'relu'), dense(32, 16, 'tanh'), dense(16, 3)], { seed: 2, backend });
    const x = normalMatrix(64, 6, 3);
    expect(sameBits(model.eval().forward(x).slice(), plain.forward(x).slice())).toBe(true);
    expect(sameBits(model.predict(x), plain.predict(x))).toBe(true);
    model.train();
    const first = model.forward(x).slice();
    const second = model.forward(x).slice();
    expect(sameBits(first, second)).toBe(false);
    // Dropout after a linear layer: each output is 0 or exactly 1/(1 − rate) times the eval output.
    const linear = new Sequential([dense(6, 200), dropout(0.3)], { seed: 5, backend });
    const evaluated = linear.eval().forward(x).slice();
    const trained = linear.train().forward(x);
    let zeros = 0;
    trained.forEach((v, i) => {
      if (v === 0) zeros++;
      else expect(v).toBe(Math.fround(evaluated[i] * Math.fround(1 / 0.7)));
    });
    expect(Math.abs(zeros / trained.length - 0.3)).toBeLessThan(0.02);
    linear.dispose();
    model.dispose();
    plain.dispose();
  });

  it('is repeatable for a seed: the same seed, the same training', () => {
    const run = (): Float32Array[] => {
      const model = withDropout(7);
      const optimizer = new SGD(model, { lr: 0.05 });
      for (let step = 0; step < 5; step++) model.trainStep(normalMatrix(8, 6, step), randomLabels(8, 3, step), { loss: 'softmaxCrossEntropy', optimizer });
      const weights = model.namedParameters().map((p) => p.value.slice());
      model.dispose();
      return weights;
    };
    const [a, b] = [run(), run()];
    a.forEach((w, i) => expect(sameBits(w, b[i])).toBe(true));
  });

  it('fit trains with dropout and restores the mode; save/load keeps it, named as nn.Sequential would', async () => {
    const model = withDropout(4).eval();
    await model.fit(normalMatrix(32, 6, 1), randomLabels(32, 3, 2), { epochs: 2, batchSize: 8, loss: 'softmaxCrossEntropy', optimizer: new SGD(model, { lr: 0.05 }) });
    expect(model.training).toBe(false);
    const loaded = Sequential.load(model.save(), { backend });
    expect(loaded.dropoutRates).toEqual([0.5, 0.25, 0]);
    const x = normalMatrix(4, 6, 9);
    expect(sameBits(loaded.predict(x), model.predict(x))).toBe(true);
    const names = loaded.namedParameters().map((p) => p.name);
    expect(names).toHaveLength(6);
    model.dispose();
    loaded.dispose();
  });
});

it('checks its rate and its place', () => {
  expect(() => dropout(1)).toThrow(/dropout rate must be a number in \[0, 1\), got number 1/);
  expect(() => new Sequential([dropout(0.5), dense(2, 2)], { backend: 'js' })).toThrow(/must follow a dense layer/);
  expect(() => new Sequential([dense(2, 2), dropout(0.1), dropout(0.2)], { backend: 'js' })).toThrow(/second dropout/);
});

// The training doctor and the forgotten-zeroGrad warning.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dense, diagnose, doctor, init, Sequential, SGD } from '../../src/index.js';
import { normalMatrix, randomLabels, sameBits } from './setup.js';

beforeAll(async () => {
  await init({ threads: 1 });
});
afterEach(() => vi.restoreAllMocks());

describe('diagnose', () => {
  it('reports a healthy network without warnings, and leaves parameters and gradients as they were', () => {
    const model = new Sequential([dense(10, 16, 'relu'), dense(16, 8, 'tanh'), dense(8, 3)], { seed: 1, backend: 'wasm' });
    const x = normalMatrix(32, 10, 1);
    const labels = randomLabels(32, 3, 2);
    model.forward(x);
    model.loss('softmaxCrossEntropy', labels);
    model.backward();
    const before = model.namedParameters().map((p) => [p.value.slice(), p.grad.slice()]);
    const report = diagnose(model, x, labels, { loss: 'softmaxCrossEntropy' });
    expect(report.warnings).toEqual([]);
    expect(report.layers.map((l) => l.activation)).toEqual(['relu', 'tanh', 'linear']);
    for (const layer of report.layers) {
      expect(layer.gradNorm).toBeGreaterThan(0);
      expect(layer.ratio).toBeGreaterThan(1e-6);
      expect(layer.ratio).toBeLessThan(10);
    }
    expect(report.layers[0].deadFraction).toBeLessThan(0.5);
    expect(report.layers[1].saturatedFraction).toBeLessThan(0.5);
    model.namedParameters().forEach((p, i) => {
      expect(sameBits(p.value, before[i][0])).toBe(true);
      expect(sameBits(p.grad, before[i][1])).toBe(true);
    });
    model.dispose();
  });

  it('finds dead ReLUs, saturated tanh units and exploding gradients', () => {
    const model = new Sequential([dense(6, 20, 'relu'), dense(20, 10, 'tanh'), dense(10, 1)], { seed: 2, backend: 'js' });
    const [, b0, w1] = model.namedParameters();
    b0.value.fill(-100);
    w1.value.forEach((v, i) => (w1.value[i] = v * 1000));
    model.namedParameters()[3].value.fill(0);
    const report = diagnose(model, normalMatrix(16, 6, 3), normalMatrix(16, 1, 4).map((v) => v * 1e6), { loss: 'mse' });
    expect(report.layers[0].deadFraction).toBe(1);
    expect(report.warnings.join('\n')).toMatch(/layer 0 \(relu\): 100% of its units are dead/);
    const saturated = new Sequential([dense(4, 8, 'tanh'), dense(8, 1, 'sigmoid')], { seed: 3, backend: 'js' });
    saturated.namedParameters()[0].value.forEach((v, i, all) => (all[i] = v * 100));
    const second = diagnose(saturated, normalMatrix(16, 4, 5), normalMatrix(16, 1, 6).map((v) => (v > 0 ? 1 : 0)), { loss: 'bce' });
    expect(second.layers[0].saturatedFraction).toBeGreaterThan(0.5);
    expect(second.warnings.join('\n')).toMatch(/layer 0 \(tanh\): \d+% of its outputs are saturated/);
    const exploding = new Sequential([dense(3, 4, 'tanh'), dense(4, 1)], { seed: 4, backend: 'js' });
    const third = diagnose(exploding, normalMatrix(8, 3, 7), normalMatrix(8, 1, 8).map((v) => v * 1e6), { loss: 'mse' });
    expect(third.warnings.join('\n')).toMatch(/gradients explode/);
    [model, saturated, exploding].forEach((m) => m.dispose());
  });

  it('the doctor callback reports each epoch from the last batch', async () => {
    const model = new Sequential([dense(4, 8, 'relu'), dense(8, 2)], { seed: 5, backend: 'wasm' });
    model.namedParameters()[1].value.fill(-50);
    const seen: string[][] = [];
    await model.fit(normalMatrix(32, 4, 1), randomLabels(32, 2, 2), {
      epochs: 2, batchSize: 16, loss: 'softmaxCrossEntropy', optimizer: new SGD(model, { lr: 0.01 }),
      callbacks: [doctor({ report: (_epoch, warnings) => void seen.push(warnings) })],
    });
    expect(seen).toHaveLength(2);
    expect(seen[0].join('\n')).toMatch(/units are dead/);
    model.dispose();
  });
});

it('warns once when backward() adds to gradients an optimizer already used (the forgotten zeroGrad)', () => {
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
  const model = new Sequential([dense(3, 2)], { seed: 6, backend: 'js' });
  const optimizer = new SGD(model, { lr: 0.1 });
  const x = normalMatrix(4, 3, 1);
  const y = normalMatrix(4, 2, 2);
  const step = (zero: boolean): void => {
    if (zero) optimizer.zeroGrad();
    model.forward(x);
    model.loss('mse', y);
    model.backward();
    optimizer.step();
  };
  step(true);
  step(true);
  expect(warn).not.toHaveBeenCalled();
  step(false);
  step(false);
  expect(warn).toHaveBeenCalledOnce();
  expect(String(warn.mock.calls[0][0])).toMatch(/forgotten-zero_grad/);
  model.dispose();
});

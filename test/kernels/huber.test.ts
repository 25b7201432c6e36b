import { describe, it } from 'vitest';
import { huber } from '../../src/backend/js/huber.js';
import { createBackendPair } from '../harness.js';
import { describePointwiseLoss } from '../loss_cases.js';
import { mixedValues } from '../random.js';
import { expectClose, fewRoundings, meanOfTerms, relative } from '../tolerance.js';

const pair = await createBackendPair();

describe('huber twin on hand-computed values', () => {
  it('delta 1, d = [0.5, −2, 3, 1]: terms [0.125, 1.5, 2.5, 0.5], grad clamp(d)/4', () => {
    const m = Float64Array.of(0.5, -2, 3, 1, 0, 0, 0, 0, NaN, NaN, NaN, NaN);
    expectClose(huber(m, 8, 0, 4, 4, 1), 4.625 / 4, relative(1e-15), 'loss');
    expectClose(m.subarray(8), [0.125, -0.25, 0.25, 0.25], relative(1e-15), 'grad');
  });

  it('delta 0.5, d = −2: loss 0.5·(2 − 0.25), grad −0.5', () => {
    const m = Float64Array.of(-2, 0, NaN);
    expectClose(huber(m, 2, 0, 1, 1, 0.5), 0.875, relative(1e-15), 'loss');
    expectClose(m[2], -0.5, relative(1e-15), 'grad');
  });
});

for (const delta of [1, 0.5]) {
  describePointwiseLoss(pair, {
    name: `huber delta=${delta}`,
    predictions: (random, n) => mixedValues(random, n),
    targets: (random, n) => mixedValues(random, n),
    run: (kernels, grad, predictions, targets, n) => kernels.huber(grad, predictions, targets, n, delta),
    tolerances: (n) => ({ grad: fewRoundings, loss: meanOfTerms(n) }),
  });
}

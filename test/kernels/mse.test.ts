import { describe, it } from 'vitest';
import { mse } from '../../src/backend/js/mse.js';
import { createBackendPair } from '../harness.js';
import { describePointwiseLoss } from '../loss_cases.js';
import { mixedValues } from '../random.js';
import { expectClose, fewRoundings, meanOfTerms, relative } from '../tolerance.js';

const pair = await createBackendPair();

describe('mse twin on hand-computed values', () => {
  it('p = [1, 2, 3], y = [1, 0, 0]: loss 13/3, grad 2(p − y)/3', () => {
    const m = Float64Array.of(1, 2, 3, 1, 0, 0, NaN, NaN, NaN);
    expectClose(mse(m, 6, 0, 3, 3), 13 / 3, relative(1e-15), 'loss');
    expectClose(m.subarray(6), [0, 4 / 3, 2], relative(1e-15), 'grad');
  });
});

describePointwiseLoss(pair, {
  name: 'mse',
  predictions: (random, n) => mixedValues(random, n),
  targets: (random, n) => mixedValues(random, n),
  run: (kernels, grad, predictions, targets, n) => kernels.mse(grad, predictions, targets, n),
  tolerances: (n) => ({ grad: fewRoundings, loss: meanOfTerms(n) }),
});

import { describe, it } from 'vitest';
import { bce, bce_with_logits } from '../../src/backend/js/bce.js';
import { createBackendPair } from '../harness.js';
import { describePointwiseLoss } from '../loss_cases.js';
import { mixedValues, unitValues } from '../random.js';
import { expectClose, FLOAT32_EPSILON, fewRoundings, largestMagnitude, meanOfTerms, mixed, relative } from '../tolerance.js';

const pair = await createBackendPair();

describe('bce twins on hand-computed values', () => {
  it('bce: p = 1/2 costs ln 2 whatever y; grad (p − y)/(p(1 − p))/n', () => {
    const m = Float64Array.of(0.5, 0.5, 1, 0, NaN, NaN);
    expectClose(bce(m, 4, 0, 2, 2), Math.LN2, relative(1e-15), 'loss');
    expectClose(m.subarray(4), [-1, 1], relative(1e-15), 'grad');
  });

  it('bce: log terms floor at −100 and p(1 − p) at 1e-12 when p is 0 or 1', () => {
    const m = Float64Array.of(0, 1, 1, 0, NaN, NaN);
    expectClose(bce(m, 4, 0, 2, 2), 100, relative(1e-15), 'loss');
    expectClose(m.subarray(4), [-0.5e12, 0.5e12], relative(1e-15), 'grad');
  });

  it('bce_with_logits: z = 0 costs ln 2; grad (σ(z) − y)/n', () => {
    const m = Float64Array.of(0, 0, 1, 0, NaN, NaN);
    expectClose(bce_with_logits(m, 4, 0, 2, 2), Math.LN2, relative(1e-15), 'loss');
    expectClose(m.subarray(4), [-0.25, 0.25], relative(1e-15), 'grad');
  });

  it('bce_with_logits: z = ±1000 neither overflows nor loses the loss', () => {
    // Terms: 1000 (z = 1000, y = 0), 0 (z = −1000, y = 0), 1000 (z = −1000, y = 1).
    const m = Float64Array.of(1000, -1000, -1000, 0, 0, 1, NaN, NaN, NaN);
    expectClose(bce_with_logits(m, 6, 0, 3, 3), 2000 / 3, relative(1e-15), 'loss');
    expectClose(m.subarray(6), [1 / 3, 0, -1 / 3], relative(1e-15), 'grad');
  });
});

describePointwiseLoss(pair, {
  name: 'bce',
  // Probabilities and targets in [0, 1], each with exact 0s and 1s, where the clamps act.
  predictions: (random, n) => unitValues(random, n),
  targets: (random, n) => unitValues(random, n),
  run: (kernels, grad, probs, targets, n) => kernels.bce(grad, probs, targets, n),
  tolerances: (n) => ({ grad: fewRoundings, loss: meanOfTerms(n) }),
});

describePointwiseLoss(pair, {
  name: 'bce_with_logits',
  // Logits mostly within ±4, some up to ±32, where e^|z| would overflow float32 if taken naively.
  predictions: (random, n) => mixedValues(random, n, 4),
  targets: (random, n) => unitValues(random, n),
  run: (kernels, grad, logits, targets, n) => kernels.bce_with_logits(grad, logits, targets, n),
  tolerances: (n, logits) => {
    // σ(z) − y cancels; max(z, 0) − z·y cancels with an error of a few ulps of |z|.
    return {
      grad: mixed((16 * FLOAT32_EPSILON) / n, 8 * FLOAT32_EPSILON),
      loss: meanOfTerms(n, (16 + 4 * largestMagnitude(logits)) * FLOAT32_EPSILON),
    };
  },
});

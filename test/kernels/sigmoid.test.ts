import { describe, expect, it } from 'vitest';
import { sigmoid_backward, sigmoid_forward } from '../../src/backend/js/sigmoid.js';
import { describeActivation, SIGMOID } from '../activation_cases.js';
import { createBackendPair } from '../harness.js';
import { expectClose, relative } from '../tolerance.js';

const pair = await createBackendPair();

describe('sigmoid twins on hand-computed values', () => {
  it('forward: σ(0) = 1/2, σ(ln 3) = 3/4, σ(−ln 3) = 1/4, and no overflow at ±1000', () => {
    const m = Float64Array.of(0, Math.log(3), -Math.log(3), 1000, -1000, NaN, NaN, NaN, NaN, NaN);
    sigmoid_forward(m, 5, 0, 5);
    expectClose(m.subarray(5), [0.5, 0.75, 0.25, 1, 0], relative(1e-15), 'sigmoid');
  });

  it('backward: da·a(1 − a)', () => {
    const m = Float64Array.of(0.5, 0.75, 2, 4, NaN, NaN);
    sigmoid_backward(m, 4, 2, 0, 2);
    expect(Array.from(m.subarray(4))).toEqual([0.5, 0.75]);
  });
});

describeActivation(pair, SIGMOID);

import { describe, expect, it } from 'vitest';
import { leaky_relu_backward, leaky_relu_forward } from '../../src/backend/js/leaky_relu.js';
import { describeActivation, leakyRelu } from '../activation_cases.js';
import { createBackendPair } from '../harness.js';

const pair = await createBackendPair();

describe('leaky_relu twins on hand-computed values', () => {
  it('forward scales the non-positives by the slope', () => {
    const m = Float64Array.of(-2, 0, 3, NaN, NaN, NaN);
    leaky_relu_forward(m, 3, 0, 3, 0.1);
    expect(Array.from(m.subarray(3))).toEqual([-2 * 0.1, 0, 3]);
  });

  it('backward uses the slope where z ≤ 0, from the pre-activation', () => {
    // z = [-2, 0, 3] at 0, da = [10, 20, 30] at 3.
    const m = Float64Array.of(-2, 0, 3, 10, 20, 30, NaN, NaN, NaN);
    leaky_relu_backward(m, 6, 3, 0, 3, 0.25);
    expect(Array.from(m.subarray(6))).toEqual([2.5, 5, 30]);
  });
});

// 0.01 (PyTorch's default) is not a float32 value; 0.25 is, so its products round only once.
for (const slope of [0.01, 0.25]) {
  describeActivation(pair, leakyRelu(slope));;
}

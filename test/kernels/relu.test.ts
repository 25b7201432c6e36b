import { describe, expect, it } from 'vitest';
import { relu_backward, relu_forward } from '../../src/backend/js/relu.js';
import { describeActivation, RELU } from '../activation_cases.js';
import { createBackendPair } from '../harness.js';

const pair = await createBackendPair();

describe('relu twins on hand-computed values', () => {
  it('forward keeps positives and zeroes the rest', () => {
    const m = Float64Array.of(-1, 0, 2, -0.5, NaN, NaN, NaN, NaN);
    relu_forward(m, 4, 0, 4);
    expect(Array.from(m.subarray(4))).toEqual([0, 0, 2, 0]);
  });

  it('backward passes da where the output is positive', () => {
    // a = [0, 2, 0.5] at 0, da = [3, 4, 5] at 3.
    const m = Float64Array.of(0, 2, 0.5, 3, 4, 5, NaN, NaN, NaN);
    relu_backward(m, 6, 3, 0, 3);
    expect(Array.from(m.subarray(6))).toEqual([0, 4, 5]);
  });
});

describeActivation(pair, RELU);

import { describe, expect, it } from 'vitest';
import { tanh_backward, tanh_forward } from '../../src/backend/js/tanh.js';
import { describeActivation, TANH } from '../activation_cases.js';
import { createBackendPair } from '../harness.js';
import { expectClose, relative } from '../tolerance.js';

const pair = await createBackendPair();

describe('tanh twins on hand-computed values', () => {
  it('forward: tanh(0) = 0, tanh(ln 2) = 3/5, tanh(−ln 2) = −3/5', () => {
    const m = Float64Array.of(0, Math.LN2, -Math.LN2, NaN, NaN, NaN);
    tanh_forward(m, 3, 0, 3);
    expectClose(m.subarray(3), [0, 0.6, -0.6], relative(1e-15), 'tanh');
  });

  it('backward: da·(1 − a²)', () => {
    const m = Float64Array.of(0.5, -1, 2, 3, NaN, NaN);
    tanh_backward(m, 4, 2, 0, 2);
    expect(Array.from(m.subarray(4))).toEqual([1.5, 0]);
  });
});

describeActivation(pair, TANH);

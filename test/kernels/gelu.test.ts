import { describe, expect, it } from 'vitest';
import { gelu_backward, gelu_forward } from '../../src/backend/js/gelu.js';
import { gelu } from '../../src/backend/js/math.js';
import { describeActivation, GELU } from '../activation_cases.js';
import { createBackendPair } from '../harness.js';
import { expectClose, mixed } from '../tolerance.js';

const pair = await createBackendPair();

describe('gelu twins on hand-computed values', () => {
  it('forward: gelu(0) = 0, gelu(1) = 0.84119199 (PyTorch approximate="tanh": 0.8411920), gelu(±10) = 10 and 0', () => {
    const m = Float64Array.of(0, 1, 10, -10, NaN, NaN, NaN, NaN);
    gelu_forward(m, 4, 0, 4);
    expectClose(m.subarray(4), [0, 0.8411919906082768, 10, 0], mixed(1e-15, 1e-10), 'gelu');
  });

  it("backward: gelu'(0) = 1/2, and gelu' matches central differences of gelu", () => {
    const points = [-4, -1.5, -0.3, 0, 0.7, 2, 5];
    const step = 1e-5;
    const m = new Float64Array(3 * points.length);
    m.set(points, 0);
    m.fill(1, points.length, 2 * points.length);
    gelu_backward(m, 2 * points.length, points.length, 0, points.length);
    const differences = points.map((z) => (gelu(z + step) - gelu(z - step)) / (2 * step));
    expectClose(m.subarray(2 * points.length), differences, mixed(1e-9, 1e-8), "gelu'");
    expect(m[2 * points.length + points.indexOf(0)]).toBe(0.5);
  });
});

describeActivation(pair, GELU);

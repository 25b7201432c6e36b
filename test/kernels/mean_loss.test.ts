import { describe, expect, it } from 'vitest';
import { mean_loss } from '../../src/backend/js/mean_loss.js';
import { createBackendPair, onBoth, TAIL_SIZES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { exact, expectClose, relative } from '../tolerance.js';

const pair = await createBackendPair();

describe('mean_loss twin on hand-computed values', () => {
  it('values [1, 2, 6]: loss 3, grad 1/3', () => {
    const m = Float64Array.of(1, 2, 6, NaN, NaN, NaN);
    expect(mean_loss(m, 3, 0, 3)).toBe(3);
    expect(Array.from(m.subarray(3))).toEqual([1 / 3, 1 / 3, 1 / 3]);
  });
});

describe('mean_loss: wasm against js', () => {
  it.each(TAIL_SIZES)('n = %i', (n) => {
    const values = mixedValues(createRandom(`mean_loss ${n}`), n);
    const results = onBoth(pair, (kernels, buffers) => {
      const grad = buffers.output(n);
      const loss = kernels.mean_loss(grad, buffers.input(values), n);
      return { loss, grad: buffers.read(grad) };
    });
    // float64 sums of float32 values: only their order differs.
    const magnitude = values.reduce((sum, v) => sum + Math.abs(v), 0) / n;
    expect(Math.abs(results.wasm.loss - results.js.loss)).toBeLessThanOrEqual(1e-12 * Math.max(magnitude, 1e-30));
    expectClose(results.wasm.grad, results.js.grad, exact, `mean_loss grad ${n}`);
    expectClose([results.js.loss], [values.reduce((sum, v) => sum + v, 0) / n], relative(1e-12), 'loss');
  });
});

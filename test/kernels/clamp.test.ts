import { describe, expect, it } from 'vitest';
import { clamp } from '../../src/backend/js/elementwise.js';
import { createBackendPair, onBackend, TAIL_SIZES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { exact, expectClose } from '../tolerance.js';

const pair = await createBackendPair();

describe('clamp', () => {
  it('twin: limits to [low, high] and keeps NaN', () => {
    const m = Float64Array.of(-3, -0.5, 0, 0.5, 3, NaN);
    clamp(m, 0, 6, -1, 1);
    expect(Array.from(m)).toEqual([-1, -0.5, 0, 0.5, 1, NaN]);
  });

  it.each(TAIL_SIZES)('wasm against js, n = %i', (n) => {
    const values = mixedValues(createRandom(`clamp ${n}`), n, 3);
    if (n > 2) values[n - 2] = NaN;
    const [wasm, js] = [pair.wasm, pair.js].map((backend) => onBackend(backend, (kernels, buffers) => {
      const x = buffers.output(n, values);
      kernels.clamp(x, n, -1.5, 0.75);
      return buffers.read(x);
    }));
    expectClose(wasm, js, exact, `clamp ${n}`);
    expect(js.every((v) => Number.isNaN(v) || (v >= -1.5 && v <= 0.75))).toBe(true);
  });
});

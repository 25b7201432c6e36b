import { describe, expect, it } from 'vitest';
import { dropout_mask, mul, mul_add } from '../../src/backend/js/dropout.js';
import { createBackendPair, onBackend, TAIL_SIZES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { exact, expectClose, scaled } from '../tolerance.js';

const pair = await createBackendPair();

describe('dropout twins on hand-computed values', () => {
  it('rate 0 keeps everything at scale 1; the scale is 1/(1 − rate)', () => {
    const m = new Float64Array(6).fill(NaN);
    dropout_mask(m, 0, 6, 0, 1, 0);
    expect(Array.from(m)).toEqual([1, 1, 1, 1, 1, 1]);
    dropout_mask(m, 0, 6, 0.75, 1, 0);
    expect(m.every((v) => v === 0 || v === 4)).toBe(true);
  });

  it('mul multiplies elementwise, mul_add adds the products', () => {
    const m = Float64Array.of(1, 2, 3, 4, 5, 6, NaN, NaN, NaN);
    mul(m, 6, 0, 3, 3);
    expect(Array.from(m.subarray(6))).toEqual([4, 10, 18]);
    mul_add(m, 6, 0, 3, 3);
    expect(Array.from(m.subarray(6))).toEqual([8, 20, 36]);
  });
});

describe('dropout_mask: wasm against js, bit for bit', () => {
  const rates = [0, 0.1, 0.5, 0.9];
  for (const rate of rates) {
    it.each(TAIL_SIZES)(`rate ${rate}, n = %i`, (n) => {
      for (const [seed, stream] of [[0, 0], [7, 3], [-123456, 99999]]) {
        const masks = [pair.wasm, pair.js].map((backend) => onBackend(backend, (kernels, buffers) => {
          const mask = buffers.output(n);
          kernels.dropout_mask(mask, n, rate, seed, stream);
          return buffers.read(mask);
        }));
        expectClose(masks[0], masks[1], exact, `rate ${rate} n ${n} seed ${seed} stream ${stream}`);
        expect(masks[0].every((v) => v === 0 || v === Math.fround(1 / (1 - rate)))).toBe(true);
      }
    });
  }

  it('keeps about 1 − rate of the elements, and differs across streams', () => {
    const [first, second] = [1, 2].map((stream) => onBackend(pair.wasm, (kernels, buffers) => {
      const mask = buffers.output(100_000);
      kernels.dropout_mask(mask, 100_000, 0.3, 42, stream);
      return buffers.read(mask);
    }));
    const kept = first.filter((v) => v !== 0).length / first.length;
    expect(Math.abs(kept - 0.7)).toBeLessThan(0.01);
    expect(first.some((v, i) => v !== second[i])).toBe(true);
  });
});

describe('mul: wasm against js', () => {
  it.each(TAIL_SIZES)('n = %i, and in place', (n) => {
    const random = createRandom(`mul ${n}`);
    const a = mixedValues(random, n);
    const b = mixedValues(random, n);
    const [wasm, js] = [pair.wasm, pair.js].map((backend) => onBackend(backend, (kernels, buffers) => {
      const out = buffers.output(n);
      const aOffset = buffers.input(a);
      kernels.mul(out, aOffset, buffers.input(b), n);
      const inPlace = buffers.output(n, a);
      kernels.mul(inPlace, inPlace, buffers.input(b), n);
      return [buffers.read(out), buffers.read(inPlace)];
    }));
    expectClose(wasm[0], js[0], exact, `mul ${n}`);
    expectClose(wasm[1], wasm[0], exact, `mul in place ${n}`);
  });
});

describe('mul_add: wasm against js', () => {
  it.each(TAIL_SIZES)('n = %i', (n) => {
    const random = createRandom(`mul_add ${n}`);
    const a = mixedValues(random, n);
    const b = mixedValues(random, n);
    const start = mixedValues(random, n);
    const [wasm, js] = [pair.wasm, pair.js].map((backend) => onBackend(backend, (kernels, buffers) => {
      const out = buffers.output(n, start);
      kernels.mul_add(out, buffers.input(a), buffers.input(b), n);
      return buffers.read(out);
    }));
    // Two roundings in wasm (the product, the sum), one in js: within 2 ulps of |out| + |a·b|.
    const magnitudes = Float64Array.from(start, (value, i) => Math.abs(value) + Math.abs(a[i] * b[i]));
    expectClose(wasm, js, scaled(magnitudes, 2), `mul_add ${n}`);
  });
});

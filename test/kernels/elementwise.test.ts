import { describe, expect, it } from 'vitest';
import { axpy, copy, fill, scale } from '../../src/backend/js/elementwise.js';
import { createBackendPair, onBoth, TAIL_SIZES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { cancellingArithmetic, exact, expectClose, fewRoundings, largestMagnitude } from '../tolerance.js';

const pair = await createBackendPair();

describe('elementwise twins on hand-computed values', () => {
  it('fill, scale, axpy and copy on a few elements', () => {
    const m = new Float64Array(8);
    fill(m, 1, 3, 2.5);
    expect(Array.from(m.subarray(0, 5))).toEqual([0, 2.5, 2.5, 2.5, 0]);
    scale(m, 2, 2, -2);
    expect(Array.from(m.subarray(0, 5))).toEqual([0, 2.5, -5, -5, 0]);
    axpy(m, 0, 1, 3, 0.5);
    expect(Array.from(m.subarray(0, 5))).toEqual([1.25, 0, -7.5, -5, 0]);
    copy(m, 5, 0, 3);
    expect(Array.from(m.subarray(5))).toEqual([1.25, 0, -7.5]);
  });

  it('copy between overlapping ranges behaves like memmove', () => {
    const m = Float64Array.of(1, 2, 3, 4, 5);
    copy(m, 1, 0, 4);
    expect(Array.from(m)).toEqual([1, 1, 2, 3, 4]);
    copy(m, 0, 1, 4);
    expect(Array.from(m)).toEqual([1, 2, 3, 4, 4]);
  });
});

describe('elementwise: wasm against js', () => {
  const cases = TAIL_SIZES.flatMap((n) => [[n, 0], [n, 1]]);
  const label = (n: number, misalignment: number) => `n=${n}${misalignment ? ' misaligned' : ''}`;

  // 0.1 is not a float32 value: the wasm side rounds it once, the JS side computes in double.
  it.each(cases)('fill n=%i misalignment=%i', (n, misalignment) => {
    const results = onBoth(pair, (kernels, buffers) => {
      const x = buffers.output(n);
      kernels.fill(x, n, 0.1);
      return buffers.read(x);
    }, misalignment);
    expectClose(results.wasm, results.js, exact, `fill ${label(n, misalignment)}`);
    expect(results.js.every((value) => value === Math.fround(0.1))).toBe(true);
  });

  for (const factor of [-1.5, 0.1]) {
    it.each(cases)(`scale by ${factor} n=%i misalignment=%i`, (n, misalignment) => {
      const what = `scale by ${factor} ${label(n, misalignment)}`;
      const start = mixedValues(createRandom(what), n);
      const results = onBoth(pair, (kernels, buffers) => {
        const x = buffers.output(n, start);
        kernels.scale(x, n, factor);
        return buffers.read(x);
      }, misalignment);
      // A float32 factor times a float32 value rounds once on both sides.
      expectClose(results.wasm, results.js, factor === Math.fround(factor) ? exact : fewRoundings, what);
    });
  }

  for (const factor of [0.75, -0.1]) {
    it.each(cases)(`axpy with a=${factor} n=%i misalignment=%i`, (n, misalignment) => {
      const what = `axpy a=${factor} ${label(n, misalignment)}`;
      const random = createRandom(what);
      const x = mixedValues(random, n);
      const start = mixedValues(random, n);
      const results = onBoth(pair, (kernels, buffers) => {
        const y = buffers.output(n, start);
        kernels.axpy(y, buffers.input(x), n, factor);
        return buffers.read(y);
      }, misalignment);
      const maxOperand = Math.max(largestMagnitude(start), Math.abs(factor) * largestMagnitude(x));
      expectClose(results.wasm, results.js, cancellingArithmetic(maxOperand), what);
    });
  }

  it.each(cases)('copy n=%i misalignment=%i', (n, misalignment) => {
    const what = `copy ${label(n, misalignment)}`;
    const source = mixedValues(createRandom(what), n);
    const results = onBoth(pair, (kernels, buffers) => {
      const destination = buffers.output(n);
      kernels.copy(destination, buffers.input(source), n);
      return buffers.read(destination);
    }, misalignment);
    expectClose(results.wasm, results.js, exact, what);
    expect(results.js).toEqual(source);
  });

  it.each(TAIL_SIZES)('copy within one buffer, ranges overlapping both ways, n=%i', (n) => {
    const what = `copy overlapping n=${n}`;
    const start = mixedValues(createRandom(what), 2 * n + 3);
    const results = onBoth(pair, (kernels, buffers) => {
      const block = buffers.output(2 * n + 3, start);
      kernels.copy(block + 4 * 3, block, n);
      kernels.copy(block + 4, block + 4 * 3, n + 1);
      return buffers.read(block);
    });
    expectClose(results.wasm, results.js, exact, what);
  });
});

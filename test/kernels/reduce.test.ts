import { describe, expect, it } from 'vitest';
import { bias_grad, count_nonfinite, count_outside, sum_squares } from '../../src/backend/js/reduce.js';
import { createBackendPair, onBoth, ROW_SHAPES, TAIL_SIZES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { exact, expectClose, relative, scaled } from '../tolerance.js';

const pair = await createBackendPair();

/** Column sums in float32 may differ by this many ulps of Σ|terms| between summation orders. */
const SUM_ULPS = 16;
/** Squares are exact in float64; only the order of the float64 additions may differ. */
const FLOAT64_SUM = relative(1e-12);

describe('reduction twins on hand-computed values', () => {
  it('bias_grad adds the column sums to db', () => {
    // dz = [[1, 2, 3], [4, 5, 6]] at 0, db = [10, 20, 30] at 6.
    const m = Float64Array.of(1, 2, 3, 4, 5, 6, 10, 20, 30);
    bias_grad(m, 6, 0, 2, 3, 1);
    expect(Array.from(m.subarray(6))).toEqual([15, 27, 39]);
  });

  it('bias_grad with accumulate 0 writes the column sums over db', () => {
    const m = Float64Array.of(1, 2, 3, 4, 5, 6, NaN, NaN, NaN);
    bias_grad(m, 6, 0, 2, 3, 0);
    expect(Array.from(m.subarray(6))).toEqual([5, 7, 9]);
  });

  it('sum_squares of [1, −2, 3] is 14', () => {
    expect(sum_squares(Float64Array.of(0, 1, -2, 3), 1, 3)).toBe(14);
  });

  it('count_nonfinite counts NaN, +Inf and −Inf, not large finite values', () => {
    const m = Float32Array.of(1, NaN, Infinity, -Infinity, 0, 3.4e38, -3.4e38);
    expect(count_nonfinite(m, 0, m.length)).toBe(3);
    expect(count_nonfinite(m, 4, 3)).toBe(0);
  });
});

describe('reductions: wasm against js', () => {
  it.each(ROW_SHAPES)('bias_grad accumulates onto db, rows=%i cols=%i', (rows, cols) => {
    const what = `bias_grad rows=${rows} cols=${cols}`;
    const random = createRandom(what);
    const dz = mixedValues(random, rows * cols);
    const start = mixedValues(random, cols);
    const results = onBoth(pair, (kernels, buffers) => {
      const db = buffers.output(cols, start);
      kernels.bias_grad(db, buffers.input(dz), rows, cols, 1);
      return buffers.read(db);
    });
    const termMagnitudes = start.map(Math.abs);
    for (let i = 0; i < rows * cols; i++) termMagnitudes[i % cols] += Math.abs(dz[i]);
    expectClose(results.wasm, results.js, scaled(termMagnitudes, SUM_ULPS), what);
  });

  it.each(ROW_SHAPES)('bias_grad with accumulate 0 writes over NaN, rows=%i cols=%i', (rows, cols) => {
    const what = `bias_grad = rows=${rows} cols=${cols}`;
    const dz = mixedValues(createRandom(what), rows * cols);
    const results = onBoth(pair, (kernels, buffers) => {
      const db = buffers.output(cols);
      kernels.bias_grad(db, buffers.input(dz), rows, cols, 0);
      return buffers.read(db);
    });
    const termMagnitudes = new Float64Array(cols);
    for (let i = 0; i < rows * cols; i++) termMagnitudes[i % cols] += Math.abs(dz[i]);
    expectClose(results.wasm, results.js, scaled(termMagnitudes, SUM_ULPS), what);
  });

  it.each([[3, 17], [128, 10], [5, 1031], [100, 1], [7, 2]])('bias_grad written, then added, doubles exactly, rows=%i cols=%i', (rows, cols) => {
    const what = `bias_grad twice rows=${rows} cols=${cols}`;
    const dz = mixedValues(createRandom(what), rows * cols);
    const results = onBoth(pair, (kernels, buffers) => {
      const db = buffers.output(cols);
      const dzOffset = buffers.input(dz);
      kernels.bias_grad(db, dzOffset, rows, cols, 0);
      const once = buffers.read(db);
      kernels.bias_grad(db, dzOffset, rows, cols, 1);
      return { once, twice: buffers.read(db) };
    });
    for (const side of [results.wasm, results.js]) expectClose(side.twice, side.once.map((value) => 2 * value), exact, what);
  });

  it.each(TAIL_SIZES)('sum_squares n=%i', (n) => {
    const what = `sum_squares n=${n}`;
    const x = mixedValues(createRandom(what), n);
    const results = onBoth(pair, (kernels, buffers) => kernels.sum_squares(buffers.input(x), n));
    expectClose(results.wasm, results.js, FLOAT64_SUM, what);
  });

  it('sum_squares misaligned by one element', () => {
    const x = mixedValues(createRandom('sum_squares misaligned'), 127);
    const results = onBoth(pair, (kernels, buffers) => kernels.sum_squares(buffers.input(x), 127), 1);
    expectClose(results.wasm, results.js, FLOAT64_SUM, 'sum_squares misaligned');
  });

  it.each(TAIL_SIZES)('clip_grad_norm n=%i scales by maxNorm/(norm + 1e-6) above maxNorm, and leaves the gradients below it', (n) => {
    const what = `clip_grad_norm n=${n}`;
    const x = mixedValues(createRandom(what), n);
    const norm = Math.sqrt(x.reduce((sum, v) => sum + v * v, 0));
    for (const maxNorm of [norm / 3, norm * 2]) {
      const results = onBoth(pair, (kernels, buffers) => {
        const at = buffers.output(n, x);
        const total = kernels.clip_grad_norm(at, n, maxNorm);
        return { total, clipped: buffers.read(at) };
      });
      expectClose([results.wasm.total], [norm], relative(1e-12), `${what} norm`);
      expectClose([results.js.total], [norm], relative(1e-12), `${what} norm`);
      const factor = Math.fround(maxNorm / (norm + 1e-6));
      const expected = factor < 1 ? x.map((v) => Math.fround(v * factor)) : x;
      expectClose(results.wasm.clipped, expected, exact, `${what} maxNorm ${maxNorm}`);
      expectClose(results.js.clipped, expected, exact, `${what} maxNorm ${maxNorm}`);
    }
  });

  it.each(TAIL_SIZES)('count_nonfinite n=%i, with NaN and ±Infinity at the ends and inside', (n) => {
    const what = `count_nonfinite n=${n}`;
    const random = createRandom(what);
    const x = mixedValues(random, n, 1e30);
    const specials = [NaN, Infinity, -Infinity];
    x[n - 1] = specials[n % 3];
    x[0] = specials[(n + 1) % 3];
    for (let i = 0; i < n; i++) if (random() < 0.1) x[i] = specials[i % 3];
    const results = onBoth(pair, (kernels, buffers) => kernels.count_nonfinite(buffers.input(x), n));
    expectClose(results.wasm, results.js, exact, what);
    expect(results.js).toBe(x.filter((value) => !Number.isFinite(value)).length);
  });

  it('count_outside counts NaN and values outside [low, high], not the bounds themselves', () => {
    const m = new Float64Array([0, 1, 0.5, -0, -1e-30, 1.0000001, NaN, Infinity, -Infinity]);
    expect(count_outside(m, 0, m.length, 0, 1)).toBe(5);
    expect(count_outside(m, 0, 4, 0, 1)).toBe(0);
    expect(count_outside(m, 0, m.length, -Infinity, Infinity)).toBe(1);
  });

  it.each(TAIL_SIZES)('count_outside n=%i, with NaN, ±Infinity, the bounds and values just outside them', (n) => {
    const what = `count_outside n=${n}`;
    const random = createRandom(what);
    const x = Float32Array.from({ length: n }, () => random() * 1.2 - 0.1);
    const specials = [NaN, Infinity, -Infinity, 0, 1, -0, Math.fround(1 + 2 ** -23), -1e-38];
    x[n - 1] = specials[n % specials.length];
    x[0] = specials[(n + 3) % specials.length];
    for (let i = 0; i < n; i++) if (random() < 0.2) x[i] = specials[i % specials.length];
    const results = onBoth(pair, (kernels, buffers) => kernels.count_outside(buffers.input(x), n, 0, 1));
    expectClose(results.wasm, results.js, exact, what);
    expect(results.js).toBe(x.filter((value) => !(value >= 0 && value <= 1)).length);
    const wide = onBoth(pair, (kernels, buffers) => kernels.count_outside(buffers.input(x), n, -3.4028234663852886e38, 3.4028234663852886e38));
    expect(wide.wasm).toBe(x.filter((value) => !Number.isFinite(value)).length);
  });
});

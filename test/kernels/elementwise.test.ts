import { describe, expect, it } from 'vitest';
import { axpy, copy, copy_rows, fill, scale } from '../../src/backend/js/elementwise.js';
import { createBackendPair, onBackend, onBoth, ROW_SHAPES, TAIL_SIZES } from '../harness.js';
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

  it('copy_rows copies and adds a block of columns between matrices of other widths', () => {
    // src: a 2 × 4 matrix at 0; dst: a 2 × 3 matrix at 8, its last two columns written.
    const m = Float64Array.of(1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0);
    copy_rows(m, 9, 3, 1, 4, 2, 2, 0);
    expect(Array.from(m.subarray(8))).toEqual([0, 2, 3, 0, 6, 7]);
    copy_rows(m, 9, 3, 2, 4, 2, 2, 1);
    expect(Array.from(m.subarray(8))).toEqual([0, 5, 7, 0, 13, 15]);
    // Back: the columns of dst added into the first two columns of src.
    copy_rows(m, 0, 4, 9, 3, 2, 2, 1);
    expect(Array.from(m.subarray(0, 8))).toEqual([6, 9, 3, 4, 18, 21, 7, 8]);
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

describe('copy_rows: both wasm builds against js, bit for bit', () => {
  // Blocks of rows × cols: each shape with both strides equal to cols (one contiguous run), and with
  // the block inside wider matrices at an odd column, so rows start off the 16-byte alignment.
  // [dst column, dst stride − cols, src column, src stride − cols]
  const layouts: [number, number, number, number][] = [[0, 0, 0, 0], [1, 3, 2, 2], [5, 7, 0, 0], [0, 0, 3, 5], [1, 1, 1, 1]];
  const cases = ROW_SHAPES.flatMap(([rows, cols]) => layouts.map((layout): [number, number, ...typeof layout] => [rows, cols, ...layout]));
  for (const accumulate of [0, 1]) {
    it.each(cases)(`accumulate=${accumulate} rows=%i cols=%i, dst column %i of cols + %i, src column %i of cols + %i`,
      (rows, cols, dstColumn, dstExtra, srcColumn, srcExtra) => {
        const what = `copy_rows accumulate=${accumulate} rows=${rows} cols=${cols} dst ${dstColumn}/${dstExtra} src ${srcColumn}/${srcExtra}`;
        const dstStride = cols + dstExtra;
        const srcStride = cols + srcExtra;
        const random = createRandom(what);
        const source = mixedValues(random, rows * srcStride);
        // Every element of dst starts with a value; the block's are NaN when it is written over.
        const start = mixedValues(random, rows * dstStride);
        if (accumulate === 0) for (let r = 0; r < rows; r++) start.fill(NaN, r * dstStride + dstColumn, r * dstStride + dstColumn + cols);
        const [wasm, relaxed, js] = [pair.wasm, pair.relaxed, pair.js].map((backend) => onBackend(backend, (kernels, buffers) => {
          const dst = buffers.output(rows * dstStride, start);
          const src = buffers.input(source);
          kernels.copy_rows(dst + 4 * dstColumn, dstStride, src + 4 * srcColumn, srcStride, rows, cols, accumulate);
          return buffers.read(dst);
        }));
        const expected = Float32Array.from(start);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const value = source[r * srcStride + srcColumn + c];
            const i = r * dstStride + dstColumn + c;
            expected[i] = accumulate ? start[i] + value : value;
          }
        }
        // Elements outside the block (the other columns, the gaps between rows) keep their start values.
        expectClose(js, expected, exact, `js ${what}`);
        expectClose(wasm, js, exact, `wasm ${what}`);
        expectClose(relaxed, js, exact, `relaxed ${what}`);
      });
  }
});

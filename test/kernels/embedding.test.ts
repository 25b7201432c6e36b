// embedding_forward and embedding_backward: the twins on hand-computed tables, and both wasm builds
// against the twin bit for bit (a copy, and float32 additions in the same order), over row ranges.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { embedding_backward, embedding_forward } from '../../src/backend/js/embedding.js';
import { createBackendPair, onBackend } from '../harness.js';
import { createRandom, mixedValues, randomLabels } from '../random.js';
import { exact, expectClose } from '../tolerance.js';

const pair = await createBackendPair();
const BACKENDS = ['wasm', 'relaxed', 'js'] as const;
/** Row widths over the tails of the 4-wide loops, and an odd large one. */
const DIMS = [1, 3, 4, 5, 16, 17, 127, 1031];
/** Index counts; with TABLE_ROWS rows, the larger ones repeat indices many times. */
const COUNTS = [1, 3, 17, 64];
const TABLE_ROWS = 7;

describe('embedding twins on hand-computed values', () => {
  // table = [[1, 2], [3, 4], [5, 6]] at 0; out at 6.
  it('forward copies one table row per index', () => {
    const m = Float64Array.of(1, 2, 3, 4, 5, 6, NaN, NaN, NaN, NaN, NaN, NaN);
    embedding_forward(m, 6, Int32Array.of(9, 2, 0, 2), 1, 0, 3, 2);
    expect(Array.from(m.subarray(6))).toEqual([5, 6, 1, 2, 5, 6]);
  });

  it('backward adds each dout row to its index\'s row, within [first, last)', () => {
    // dout = [[1, 1], [2, 2], [3, 3]] at 0; dtable (3 rows) at 6.
    const m = Float64Array.of(1, 1, 2, 2, 3, 3, NaN, NaN, NaN, NaN, NaN, NaN);
    const indices = Int32Array.of(2, 0, 2);
    embedding_backward(m, 6, 0, indices, 0, 3, 2, 0, 3, 0);
    expect(Array.from(m.subarray(6))).toEqual([2, 2, 0, 0, 4, 4]);
    embedding_backward(m, 6, 0, indices, 0, 3, 2, 1, 3, 1);
    expect(Array.from(m.subarray(6))).toEqual([2, 2, 0, 0, 8, 8]);
    m.fill(NaN, 6);
    embedding_backward(m, 6, 0, indices, 0, 3, 2, 0, 2, 0);
    expect(Array.from(m.subarray(6))).toEqual([2, 2, 0, 0, NaN, NaN]);
  });
});

describe('embedding_forward: both wasm builds against js', () => {
  for (const dim of DIMS) {
    it.each(COUNTS.flatMap((n) => [[n, 0], [n, 1]]))(`dim=${dim} n=%i misalignment=%i`, (n, misalignment) => {
      const what = `embedding_forward dim=${dim} n=${n}`;
      const random = createRandom(what);
      const table = mixedValues(random, TABLE_ROWS * dim);
      const indices = randomLabels(random, n, TABLE_ROWS);
      const [wasm, relaxed, js] = BACKENDS.map((build) => onBackend(pair[build], (kernels, buffers) => {
        const out = buffers.output(n * dim);
        kernels.embedding_forward(out, buffers.labels(indices), buffers.input(table), n, dim);
        return buffers.read(out);
      }, misalignment));
      const expected = Array.from(indices).flatMap((row) => Array.from(table.subarray(row * dim, (row + 1) * dim)));
      expectClose(js, expected, exact, `js ${what}`);
      expectClose(wasm, js, exact, `wasm ${what}`);
      expectClose(relaxed, js, exact, `relaxed ${what}`);
    });
  }
});

interface ScatterCase {
  n: number;
  dim: number;
  dout: Float32Array;
  indices: Int32Array;
  start: Float32Array;
}

function scatterCase(what: string, n: number, dim: number): ScatterCase {
  const random = createRandom(what);
  return { n, dim, dout: mixedValues(random, n * dim), indices: randomLabels(random, n, TABLE_ROWS), start: mixedValues(random, TABLE_ROWS * dim) };
}

/**
 * dtable after embedding_backward over each [first, last) of `ranges` in turn. dtable starts as the
 * case's start values, with the rows of the ranges NaN when accumulate is 0 (they must all be written).
 */
function scatter(backend: Backend, c: ScatterCase, ranges: [number, number][], accumulate: number, misalignment = 0): Float32Array {
  const start = c.start.slice();
  if (accumulate === 0) for (const [first, last] of ranges) start.fill(NaN, first * c.dim, last * c.dim);
  return onBackend(backend, (kernels, buffers) => {
    const dtable = buffers.output(TABLE_ROWS * c.dim, start);
    const dout = buffers.input(c.dout);
    const indices = buffers.labels(c.indices);
    for (const [first, last] of ranges) kernels.embedding_backward(dtable, dout, indices, c.n, c.dim, first, last, accumulate);
    return buffers.read(dtable);
  }, misalignment);
}

describe('embedding_backward: both wasm builds against js, bit for bit', () => {
  for (const dim of DIMS) {
    for (const accumulate of [0, 1]) {
      it.each(COUNTS.flatMap((n) => [[n, 0], [n, 1]]))(`dim=${dim} accumulate=${accumulate} n=%i misalignment=%i`, (n, misalignment) => {
        const what = `embedding_backward dim=${dim} accumulate=${accumulate} n=${n}`;
        const c = scatterCase(what, n, dim);
        // Rows 1 … 5 of 7: rows 0 and 6 are outside the range and keep their start values.
        const [first, last] = [1, 6];
        const [wasm, relaxed, js] = BACKENDS.map((build) => scatter(pair[build], c, [[first, last]], accumulate, misalignment));
        // In float64 the same additions happen in the same order; rounded once to float32 they match.
        const expected = Float64Array.from(c.start);
        if (accumulate === 0) expected.fill(0, first * dim, last * dim);
        c.indices.forEach((row, i) => {
          if (row < first || row >= last) return;
          for (let j = 0; j < dim; j++) expected[row * dim + j] = Math.fround(expected[row * dim + j] + c.dout[i * dim + j]);
        });
        expectClose(js, expected, exact, `js ${what}`);
        expectClose(wasm, js, exact, `wasm ${what}`);
        expectClose(relaxed, js, exact, `relaxed ${what}`);
        expect(Array.from(js.subarray(0, first * dim))).toEqual(Array.from(c.start.subarray(0, first * dim)));
        expect(Array.from(js.subarray(last * dim))).toEqual(Array.from(c.start.subarray(last * dim)));
      });
    }
  }

  it.each([[3, 1], [17, 5], [64, 16], [64, 17], [37, 127]])('ranges split two or three ways give the bits of one call, n=%i dim=%i', (n, dim) => {
    const c = scatterCase(`embedding_backward split n=${n} dim=${dim}`, n, dim);
    const splits: [number, number][][] = [[[0, 3], [3, 7]], [[0, 1], [1, 6], [6, 7]], [[4, 7], [0, 2], [2, 4]], [[0, 0], [0, 7], [7, 7]]];
    for (const build of BACKENDS) {
      for (const accumulate of [0, 1]) {
        const whole = scatter(pair[build], c, [[0, TABLE_ROWS]], accumulate);
        for (const ranges of splits) {
          expectClose(scatter(pair[build], c, ranges, accumulate), whole, exact, `${build} accumulate=${accumulate} ranges ${JSON.stringify(ranges)}`);
        }
      }
    }
  });
});

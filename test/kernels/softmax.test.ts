import { describe, expect, it } from 'vitest';
import { softmax_backward, softmax_forward } from '../../src/backend/js/softmax.js';
import { createBackendPair, onBackend, onBoth, ROW_SHAPES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import {
  EXP_UNDERFLOW, exact, expectClose, FLOAT32_EPSILON, largestMagnitude, mixed, relative, scaled, softmaxUlps,
} from '../tolerance.js';

const pair = await createBackendPair();

/** Logits mostly within ±12, some up to ±96: exp(96) overflows float32 unless the max is subtracted. */
const LOGIT_SCALE = 12;

describe('softmax twins on hand-computed values', () => {
  it('forward: softmax([0, ln 2]) = [1/3, 2/3], and a shifted row gives the same', () => {
    const m = Float64Array.of(0, Math.LN2, 1000, 1000 + Math.LN2, NaN, NaN, NaN, NaN);
    softmax_forward(m, 4, 0, 2, 2);
    // 1000 + ln 2 is itself rounded in double, hence the looser bound; without the max subtracted it is NaN.
    expectClose(m.subarray(4), [1 / 3, 2 / 3, 1 / 3, 2 / 3], relative(1e-12), 'softmax');
  });

  it('backward: a = [1/3, 2/3], da = [1, 0] gives [2/9, −2/9], also in place', () => {
    const m = Float64Array.of(1 / 3, 2 / 3, 1, 0, NaN, NaN);
    softmax_backward(m, 4, 2, 0, 1, 2);
    expectClose(m.subarray(4), [2 / 9, -2 / 9], relative(1e-15), 'softmax_backward');
    softmax_backward(m, 2, 2, 0, 1, 2);
    expect(Array.from(m.subarray(2, 4))).toEqual(Array.from(m.subarray(4)));
  });
});

describe('softmax: wasm against js', () => {
  /** Upstream gradients and the softmax output a that backward reads. */
  function backwardInputs(what: string, rows: number, cols: number) {
    const random = createRandom(what);
    const logits = mixedValues(random, rows * cols, LOGIT_SCALE);
    const upstream = mixedValues(random, rows * cols);
    // Backward reads the same a on both sides: the JS forward output.
    const probabilities = onBackend(pair.js, (kernels, buffers) => {
      const out = buffers.output(rows * cols);
      kernels.softmax_forward(out, buffers.input(logits), rows, cols);
      return buffers.read(out);
    });
    return { upstream, probabilities };
  }

  /** dz_i = a_i(da_i − Σ_j da_j a_j) rounds with a_i·(|da_i| + Σ_j |da_j a_j|). */
  function backwardScales(upstream: Float32Array, probabilities: Float32Array, rows: number, cols: number): Float64Array {
    const scales = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      let absoluteDot = 0;
      for (let j = 0; j < cols; j++) absoluteDot += Math.abs(upstream[r * cols + j] * probabilities[r * cols + j]);
      for (let j = 0; j < cols; j++) {
        const i = r * cols + j;
        scales[i] = probabilities[i] * (Math.abs(upstream[i]) + absoluteDot);
      }
    }
    return scales;
  }

  it.each(ROW_SHAPES)('forward rows=%i cols=%i', (rows, cols) => {
    const what = `softmax_forward rows=${rows} cols=${cols}`;
    const logits = mixedValues(createRandom(what), rows * cols, LOGIT_SCALE);
    const results = onBoth(pair, (kernels, buffers) => {
      const out = buffers.output(rows * cols);
      kernels.softmax_forward(out, buffers.input(logits), rows, cols);
      return buffers.read(out);
    });
    const tolerance = mixed(EXP_UNDERFLOW, softmaxUlps(cols, largestMagnitude(logits)) * FLOAT32_EPSILON);
    expectClose(results.wasm, results.js, tolerance, what);
  });

  it.each(ROW_SHAPES)('backward rows=%i cols=%i, out of place and in place', (rows, cols) => {
    const what = `softmax_backward rows=${rows} cols=${cols}`;
    const { upstream, probabilities } = backwardInputs(what, rows, cols);
    const results = onBoth(pair, (kernels, buffers) => {
      const a = buffers.input(probabilities);
      const outOfPlace = buffers.output(rows * cols);
      kernels.softmax_backward(outOfPlace, buffers.input(upstream), a, rows, cols);
      const inPlace = buffers.output(rows * cols, upstream);
      kernels.softmax_backward(inPlace, inPlace, a, rows, cols);
      return { outOfPlace: buffers.read(outOfPlace), inPlace: buffers.read(inPlace) };
    });
    const tolerance = scaled(backwardScales(upstream, probabilities, rows, cols), cols + 16);
    expectClose(results.wasm.outOfPlace, results.js.outOfPlace, tolerance, what);
    expectClose(results.wasm.inPlace, results.wasm.outOfPlace, exact, `${what}: wasm in place against out of place`);
    expectClose(results.js.inPlace, results.js.outOfPlace, exact, `${what}: js in place against out of place`);
  });
});

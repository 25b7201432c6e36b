import { describe, expect, it } from 'vitest';
import {
  softmax_cross_entropy_labels,
  softmax_cross_entropy_targets,
} from '../../src/backend/js/softmax_cross_entropy.js';
import { createBackendPair, onBoth, ROW_SHAPES } from '../harness.js';
import { createRandom, mixedValues, randomLabels, toTargetRows, unitValues } from '../random.js';
import { expectClose, FLOAT32_EPSILON, largestMagnitude, mixed, relative, softmaxUlps } from '../tolerance.js';

const pair = await createBackendPair();

/** Logits mostly within ±12, some up to ±96: exp(96) overflows float32 unless the max is subtracted. */
const LOGIT_SCALE = 12;

describe('softmax cross-entropy twins on hand-computed values', () => {
  // logits [[0, ln 2], [ln 2, 0]]: softmax rows [1/3, 2/3] and [2/3, 1/3].
  const logits = () => Float64Array.of(0, Math.LN2, Math.LN2, 0, NaN, NaN, NaN, NaN, 0.5, 0.5, 1, 0);

  it('labels: loss is the mean of −log p[label], grad (p − onehot)/rows', () => {
    const m = logits();
    const loss = softmax_cross_entropy_labels(m, 4, 0, Int32Array.of(1, 1), 0, 2, 2);
    expectClose(loss, (-Math.log(2 / 3) - Math.log(1 / 3)) / 2, relative(1e-15), 'loss');
    expectClose(m.subarray(4, 8), [1 / 6, -1 / 6, 1 / 3, -1 / 3], relative(1e-14), 'grad');
  });

  it('labels: one row, one class has zero loss and zero grad', () => {
    const m = Float64Array.of(3.5, NaN);
    expect(softmax_cross_entropy_labels(m, 1, 0, Int32Array.of(0), 0, 1, 1)).toBe(0);
    expect(m[1]).toBe(0);
  });

  it('targets: loss is the mean of −Σ y·log p, grad (p − y)/rows', () => {
    const m = logits();
    const loss = softmax_cross_entropy_targets(m, 4, 0, 8, 2, 2);
    const expected = (-0.5 * Math.log(1 / 3) - 0.5 * Math.log(2 / 3) - Math.log(2 / 3)) / 2;
    expectClose(loss, expected, relative(1e-15), 'loss');
    expectClose(m.subarray(4, 8), [(1 / 3 - 0.5) / 2, (2 / 3 - 0.5) / 2, (2 / 3 - 1) / 2, 1 / 3 / 2], relative(1e-14), 'grad');
  });
});

describe('softmax cross-entropy: wasm against js', () => {
  /** Gradients are probabilities over rows; the loss adds up rows, each with the error of one lse. */
  function tolerances(rows: number, cols: number, logits: Float32Array) {
    const ulps = softmaxUlps(cols, largestMagnitude(logits));
    return {
      grad: mixed((ulps * FLOAT32_EPSILON) / rows, ulps * FLOAT32_EPSILON),
      loss: mixed(ulps * FLOAT32_EPSILON, (rows + 16) * FLOAT32_EPSILON),
    };
  }

  /** Soft target rows, each a probability distribution; every third row one-hot. */
  function targetRows(what: string, rows: number, cols: number): Float32Array {
    const random = createRandom(`${what} targets`);
    return toTargetRows(unitValues(random, rows * cols), random, rows, cols);
  }

  it.each(ROW_SHAPES)('labels rows=%i cols=%i', (rows, cols) => {
    const what = `softmax_cross_entropy_labels rows=${rows} cols=${cols}`;
    const random = createRandom(what);
    const logits = mixedValues(random, rows * cols, LOGIT_SCALE);
    const labels = randomLabels(random, rows, cols);
    const results = onBoth(pair, (kernels, buffers) => {
      const grad = buffers.output(rows * cols);
      const loss = kernels.softmax_cross_entropy_labels(grad, buffers.input(logits), buffers.labels(labels), rows, cols);
      return { loss, grad: buffers.read(grad) };
    });
    const tolerance = tolerances(rows, cols, logits);
    expectClose(results.wasm.grad, results.js.grad, tolerance.grad, `${what} grad`);
    expectClose(results.wasm.loss, results.js.loss, tolerance.loss, `${what} loss`);
  });

  it.each(ROW_SHAPES)('targets rows=%i cols=%i', (rows, cols) => {
    const what = `softmax_cross_entropy_targets rows=${rows} cols=${cols}`;
    const logits = mixedValues(createRandom(what), rows * cols, LOGIT_SCALE);
    const targets = targetRows(what, rows, cols);
    const results = onBoth(pair, (kernels, buffers) => {
      const grad = buffers.output(rows * cols);
      const loss = kernels.softmax_cross_entropy_targets(grad, buffers.input(logits), buffers.input(targets), rows, cols);
      return { loss, grad: buffers.read(grad) };
    });
    const tolerance = tolerances(rows, cols, logits);
    expectClose(results.wasm.grad, results.js.grad, tolerance.grad, `${what} grad`);
    expectClose(results.wasm.loss, results.js.loss, tolerance.loss, `${what} loss`);
  });
});

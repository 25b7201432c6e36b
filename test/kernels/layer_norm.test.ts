// layer_norm_forward and layer_norm_backward: the twins on hand-computed rows and against finite
// differences in double, and both wasm builds against the twin, with tolerances derived from the
// float32 sums' worst-case rounding.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { layer_norm_backward, layer_norm_forward } from '../../src/backend/js/layer_norm.js';
import { createBackendPair, onBackend, ROW_SHAPES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { exact, expectClose, FLOAT32_EPSILON as EPS, relative, type Tolerance } from '../tolerance.js';

const pair = await createBackendPair();
const BUILDS = ['wasm', 'relaxed'] as const;
const EPSILON = 1e-5;

/** A per-element bound on |actual − expected|, derived for each element from its inputs. */
function bounds(description: string, allowances: ArrayLike<number>): Tolerance {
  return { description, allowance: (_expected, index) => allowances[index] };
}

/**
 * How many roundings a float32 sum of `terms` terms takes a term through, in any order (one chain of
 * terms − 1 adds at worst), plus a few for the products inside the terms and the division by the count:
 * the sum is then off by at most that many ulps of Σ|term|.
 */
const sumUlps = (terms: number): number => terms + 8;

describe('layer norm twins on hand-computed values', () => {
  // One row [1, 2, 3, 4]: mean 2.5, biased variance 1.25, x̂ = [−1.5, −0.5, 0.5, 1.5]/√1.25.
  const rstd = 1 / Math.sqrt(1.25);
  const normalized = [-1.5, -0.5, 0.5, 1.5].map((d) => d * rstd);

  it('forward, without and with gamma and beta, eps 0', () => {
    // x at 0, gamma at 4, beta at 8, out at 12, mean at 16, rstd at 17.
    const m = Float64Array.of(1, 2, 3, 4, 1, -1, 2, 0.5, 0, 1, -1, 0.25, NaN, NaN, NaN, NaN, NaN, NaN);
    layer_norm_forward(m, 12, 16, 17, 0, -1, -1, 1, 4, 0);
    expect(m[16]).toBe(2.5);
    expect(m[17]).toBe(rstd);
    expectClose(m.subarray(12, 16), normalized, relative(1e-15), 'x̂');
    layer_norm_forward(m, 12, 16, 17, 0, 4, 8, 1, 4, 0);
    expectClose(m.subarray(12, 16), normalized.map((v, j) => v * m[4 + j] + m[8 + j]), relative(1e-15), 'x̂·gamma + beta');
    // In place: out = x.
    layer_norm_forward(m, 0, 16, 17, 0, -1, -1, 1, 4, 0);
    expectClose(m.subarray(0, 4), normalized, relative(1e-15), 'in place');
  });

  it('forward: eps is added to the variance, as float32', () => {
    const m = Float64Array.of(1, 2, 3, 4, NaN, NaN, NaN, NaN, NaN, NaN);
    layer_norm_forward(m, 4, 8, 9, 0, -1, -1, 1, 4, 0.75);
    expect(m[9]).toBe(1 / Math.sqrt(2));
    layer_norm_forward(m, 4, 8, 9, 0, -1, -1, 1, 4, 0.1);
    expect(m[9]).toBe(1 / Math.sqrt(1.25 + Math.fround(0.1)));
  });

  it('backward: two rows [1, 2, 3, 4], dout one-hot at each end, gamma 2', () => {
    // x at 0 (2 rows), dout at 8, gamma at 16, mean at 20, rstd at 22, dx at 24, dgamma at 32, dbeta at 36.
    const m = new Float64Array(40).fill(NaN);
    m.set([1, 2, 3, 4, 1, 2, 3, 4, 1, 0, 0, 0, 0, 0, 0, 1, 2, 2, 2, 2, 2.5, 2.5, rstd, rstd], 0);
    layer_norm_backward(m, 24, 32, 36, 8, 0, 16, 20, 22, 2, 4, 0, 0);
    // g = 2·dout; row 0: mean g = 0.5, mean g·x̂ = −0.75·rstd, so dx = 2·rstd·[0.3, −0.4, −0.1, 0.2]
    // (it sums to 0, and to 0 against x̂); row 1 is row 0 reversed.
    const row0 = [0.3, -0.4, -0.1, 0.2].map((v) => 2 * rstd * v);
    expectClose(m.subarray(24, 32), [...row0, ...row0.slice().reverse()], relative(1e-14), 'dx');
    expectClose(m.subarray(32, 36), [-1.5 * rstd, 0, 0, 1.5 * rstd], relative(1e-15), 'dgamma = Σ dout·x̂');
    expect(Array.from(m.subarray(36, 40))).toEqual([1, 0, 0, 1]);
    // Accumulated: dx, dgamma and dbeta double exactly.
    const once = m.slice(24, 40);
    layer_norm_backward(m, 24, 32, 36, 8, 0, 16, 20, 22, 2, 4, 1, 1);
    expect(Array.from(m.subarray(24, 40))).toEqual(Array.from(once, (v) => 2 * v));
    // Without gamma, dx is half as large; skipped outputs (−1) are not computed.
    layer_norm_backward(m, 24, -1, -1, 8, 0, -1, 20, 22, 2, 4, 0, 0);
    expectClose(m.subarray(24, 32), Array.from(once.subarray(0, 8), (v) => v / 2), relative(1e-15), 'dx without gamma');
    expect(Array.from(m.subarray(32, 40))).toEqual(Array.from(once.subarray(8), (v) => 2 * v));
  });

  it('backward in double agrees with central differences of the forward', () => {
    const [rows, cols] = [3, 5];
    const random = createRandom('layer norm finite differences');
    const x = Float64Array.from(mixedValues(random, rows * cols));
    const gamma = Float64Array.from(mixedValues(random, cols));
    const beta = Float64Array.from(mixedValues(random, cols));
    const weights = Float64Array.from(mixedValues(random, rows * cols));
    // Layout: x | gamma | beta | out | mean | rstd | dout | dx | dgamma | dbeta.
    const [X, G, B, OUT, MEAN, RSTD, DOUT, DX, DG, DB] = [0, 15, 20, 25, 40, 43, 46, 61, 76, 81];
    const m = new Float64Array(86);
    m.set(x, X);
    m.set(gamma, G);
    m.set(beta, B);
    // The loss Σ weights·out, whose gradient with respect to out is dout = weights.
    const loss = (): number => {
      layer_norm_forward(m, OUT, MEAN, RSTD, X, G, B, rows, cols, EPSILON);
      return weights.reduce((sum, w, i) => sum + w * m[OUT + i], 0);
    };
    loss();
    m.set(weights, DOUT);
    layer_norm_backward(m, DX, DG, DB, DOUT, X, G, MEAN, RSTD, rows, cols, 0, 0);
    const analytic = m.slice(DX, DB + cols);
    const numeric = [...Array.from({ length: rows * cols }, (_, i) => X + i), ...Array.from({ length: 2 * cols }, (_, j) => G + j)]
      .map((index) => {
        const h = 1e-6;
        const value = m[index];
        m[index] = value + h;
        const up = loss();
        m[index] = value - h;
        const down = loss();
        m[index] = value;
        return (up - down) / (2 * h);
      });
    expectClose(analytic, numeric, { description: 'mixed(1e-7, 1e-6)', allowance: (e) => 1e-7 + 1e-6 * Math.abs(e) }, 'dx, dgamma, dbeta');
  });
});

type Affine = 'gamma and beta' | 'gamma' | 'beta' | 'neither';
const AFFINES: Affine[] = ['gamma and beta', 'gamma', 'beta', 'neither'];

interface ForwardResult {
  out: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
}

function forward(
  backend: Backend, x: Float32Array, gamma: Float32Array | undefined, beta: Float32Array | undefined,
  rows: number, cols: number, misalignment = 0,
): ForwardResult {
  return onBackend(backend, (kernels, buffers) => {
    const out = buffers.output(rows * cols);
    const mean = buffers.output(rows);
    const rstd = buffers.output(rows);
    const gammaOffset = gamma ? buffers.input(gamma) : 0;
    const betaOffset = beta ? buffers.input(beta) : 0;
    kernels.layer_norm_forward(out, mean, rstd, buffers.input(x), gammaOffset, betaOffset, rows, cols, EPSILON);
    return { out: buffers.read(out), mean: buffers.read(mean), rstd: buffers.read(rstd) };
  }, misalignment);
}

/**
 * Bounds on the float32 forward's error against the twin's result (computed in double), element by
 * element. With K = sumUlps(cols): the mean is off by δ ≤ K·ε·mean|x|; the variance, a sum of positive
 * squares, by K·ε of itself plus δ² (squares about a shifted mean); so rstd by ρ ≤ ½(K·ε·var + δ²)/(var + eps)
 * + 3ε relative. x̂ = (x − mean)·rstd is then off by δ·rstd + |x̂|·(ρ + 3ε), which gamma scales, and the
 * product and the sum with beta round once more each.
 */
function forwardBounds(x: Float32Array, expected: ForwardResult, gamma: Float32Array | undefined, beta: Float32Array | undefined, rows: number, cols: number) {
  const K = sumUlps(cols);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let absoluteSum = 0;
    for (let j = 0; j < cols; j++) absoluteSum += Math.abs(x[r * cols + j]);
    const meanError = K * EPS * absoluteSum / cols;
    const rowRstd = expected.rstd[r];
    const variance = Math.max(0, 1 / (rowRstd * rowRstd) - EPSILON);
    const rstdError = 0.5 * (K * EPS * variance + meanError * meanError) / (variance + EPSILON) + 3 * EPS;
    mean[r] = meanError + EPS * Math.abs(expected.mean[r]);
    rstd[r] = rstdError * rowRstd;
    for (let j = 0; j < cols; j++) {
      const normalized = Math.abs((x[r * cols + j] - expected.mean[r]) * rowRstd);
      const scale = gamma ? Math.abs(gamma[j]) : 1;
      const shift = beta ? Math.abs(beta[j]) : 0;
      out[r * cols + j] = scale * (meanError * rowRstd + normalized * (rstdError + 3 * EPS)) + 2 * EPS * (normalized * scale + shift);
    }
  }
  return { out: bounds('the float32 forward\'s error bound', out), mean: bounds('K ulps of mean|x|', mean), rstd: bounds('the bound on rstd', rstd) };
}

function compareForward(affine: Affine, rows: number, cols: number, offset = 0, misalignment = 0): void {
  const what = `layer_norm_forward (${affine}) rows=${rows} cols=${cols}${offset ? ` offset ${offset}` : ''}${misalignment ? ' misaligned' : ''}`;
  const random = createRandom(what);
  const x = mixedValues(random, rows * cols).map((v) => v + offset);
  const gamma = affine === 'gamma and beta' || affine === 'gamma' ? mixedValues(random, cols) : undefined;
  const beta = affine === 'gamma and beta' || affine === 'beta' ? mixedValues(random, cols) : undefined;
  const expected = forward(pair.js, x, gamma, beta, rows, cols, misalignment);
  const tolerance = forwardBounds(x, expected, gamma, beta, rows, cols);
  for (const build of BUILDS) {
    const actual = forward(pair[build], x, gamma, beta, rows, cols, misalignment);
    expectClose(actual.mean, expected.mean, tolerance.mean, `${build} ${what}: mean`);
    expectClose(actual.rstd, expected.rstd, tolerance.rstd, `${build} ${what}: rstd`);
    expectClose(actual.out, expected.out, tolerance.out, `${build} ${what}: out`);
  }
}

describe('layer_norm_forward: both wasm builds against js', () => {
  for (const affine of AFFINES) {
    it.each(ROW_SHAPES)(`${affine}, rows=%i cols=%i`, (rows, cols) => compareForward(affine, rows, cols));
  }

  it.each([[3, 17], [4, 64], [5, 1031]])('rows=%i cols=%i misaligned by one element', (rows, cols) => compareForward('gamma and beta', rows, cols, 0, 1));

  // Rows about 100 with spread about 1: the mean's rounding (ulps of 100) is what the bound must cover,
  // and the centered second pass keeps the variance to a few ulps of itself.
  it.each([[4, 16], [17, 127], [5, 1031]])('rows offset by 100, rows=%i cols=%i', (rows, cols) => compareForward('gamma and beta', rows, cols, 100));

  it.each([[1, 4], [3, 17], [17, 127], [1030, 2]])('in place (out = x) gives the bits of out of place, rows=%i cols=%i', (rows, cols) => {
    const random = createRandom(`layer_norm_forward in place ${rows} ${cols}`);
    const x = mixedValues(random, rows * cols);
    const gamma = mixedValues(random, cols);
    const beta = mixedValues(random, cols);
    for (const backend of [pair.wasm, pair.relaxed, pair.js]) {
      const outOfPlace = forward(backend, x, gamma, beta, rows, cols);
      const inPlace = onBackend(backend, (kernels, buffers) => {
        const data = buffers.output(rows * cols, x);
        const mean = buffers.output(rows);
        const rstd = buffers.output(rows);
        kernels.layer_norm_forward(data, mean, rstd, data, buffers.input(gamma), buffers.input(beta), rows, cols, EPSILON);
        return buffers.read(data);
      });
      expectClose(inPlace, outOfPlace.out, exact, `${backend.description} in place rows=${rows} cols=${cols}`);
    }
  });
});

interface BackwardCase {
  rows: number;
  cols: number;
  x: Float32Array;
  dout: Float32Array;
  gamma: Float32Array | undefined;
  mean: Float32Array;
  rstd: Float32Array;
}

function backwardCase(what: string, rows: number, cols: number, withGamma: boolean): BackwardCase {
  const random = createRandom(what);
  const x = mixedValues(random, rows * cols);
  const dout = mixedValues(random, rows * cols);
  const gamma = withGamma ? mixedValues(random, cols) : undefined;
  // Both sides read the same saved statistics: the twin's forward, as float32.
  const { mean, rstd } = forward(pair.js, x, gamma, undefined, rows, cols);
  return { rows, cols, x, dout, gamma, mean, rstd };
}

interface Gradients {
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

/** Runs the backward; `start` holds what dx, dgamma and dbeta hold before (NaN where undefined). */
function backward(
  backend: Backend, c: BackwardCase, accumulateInput: number, accumulateParams: number,
  start: Partial<Gradients> = {}, skip: Partial<Record<keyof Gradients, boolean>> = {}, misalignment = 0,
): Gradients {
  return onBackend(backend, (kernels, buffers) => {
    const dx = buffers.output(c.rows * c.cols, start.dx);
    const dgamma = buffers.output(c.cols, start.dgamma);
    const dbeta = buffers.output(c.cols, start.dbeta);
    kernels.layer_norm_backward(
      skip.dx ? 0 : dx, skip.dgamma ? 0 : dgamma, skip.dbeta ? 0 : dbeta, buffers.input(c.dout), buffers.input(c.x),
      c.gamma ? buffers.input(c.gamma) : 0, buffers.input(c.mean), buffers.input(c.rstd), c.rows, c.cols, accumulateInput, accumulateParams,
    );
    return { dx: buffers.read(dx), dgamma: buffers.read(dgamma), dbeta: buffers.read(dbeta) };
  }, misalignment);
}

/**
 * Bounds on the float32 backward's error against the twin's. x̂ and g = dout·gamma round 2 and 1
 * times; Σg and Σg·x̂ over a row are off by K = sumUlps(cols) ulps of Σ|g| and Σ|g·x̂|, so their means
 * by K ulps of mean|g| and mean|g·x̂|; dx = rstd·((g − mean g) − x̂·mean(g·x̂)) adds a few roundings of
 * its parts, and adding to a start value one more of the sum. The column sums over rows are off by
 * sumUlps(rows) ulps of Σ|dout·x̂| and Σ|dout|, plus the rounding of the addition.
 */
function backwardBounds(c: BackwardCase, expected: Gradients, start: Partial<Gradients>) {
  const { rows, cols } = c;
  const K = sumUlps(cols);
  const dx = new Float64Array(rows * cols);
  const dgamma = new Float64Array(cols);
  const dbeta = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const normalized = Array.from({ length: cols }, (_, j) => (c.x[r * cols + j] - c.mean[r]) * c.rstd[r]);
    const g = Array.from({ length: cols }, (_, j) => c.dout[r * cols + j] * (c.gamma ? c.gamma[j] : 1));
    let gAbsolute = 0, ghAbsolute = 0, gSum = 0, ghSum = 0;
    for (let j = 0; j < cols; j++) {
      gAbsolute += Math.abs(g[j]);
      ghAbsolute += Math.abs(g[j] * normalized[j]);
      gSum += g[j];
      ghSum += g[j] * normalized[j];
      dgamma[j] += Math.abs(c.dout[r * cols + j] * normalized[j]);
      dbeta[j] += Math.abs(c.dout[r * cols + j]);
    }
    for (let j = 0; j < cols; j++) {
      const i = r * cols + j;
      const parts = Math.abs(g[j]) + Math.abs(gSum / cols) + Math.abs(normalized[j] * ghSum / cols);
      const sums = K * gAbsolute / cols + Math.abs(normalized[j]) * K * ghAbsolute / cols;
      dx[i] = EPS * (c.rstd[r] * (sums + 4 * parts) + 2 * Math.abs(start.dx?.[i] ?? 0) + 2 * Math.abs(expected.dx[i]));
    }
  }
  const columnBound = (sums: Float64Array, startValues: Float32Array | undefined, result: Float32Array) =>
    sums.map((sum, j) => EPS * (sumUlps(rows) * sum + 2 * Math.abs(startValues?.[j] ?? 0) + 2 * Math.abs(result[j])));
  return {
    dx: bounds('the float32 dx\'s error bound', dx),
    dgamma: bounds('sumUlps(rows) ulps of Σ|dout·x̂|', columnBound(dgamma, start.dgamma, expected.dgamma)),
    dbeta: bounds('sumUlps(rows) ulps of Σ|dout|', columnBound(dbeta, start.dbeta, expected.dbeta)),
  };
}

describe('layer_norm_backward: both wasm builds against js', () => {
  for (const withGamma of [true, false]) {
    for (const accumulate of [0, 1]) {
      const label = `${withGamma ? 'gamma' : 'no gamma'}, ${accumulate ? '"+=" onto start values' : '"=" over NaN'}`;
      it.each(ROW_SHAPES)(`${label}, rows=%i cols=%i`, (rows, cols) => {
        const what = `layer_norm_backward ${label} rows=${rows} cols=${cols}`;
        const c = backwardCase(what, rows, cols, withGamma);
        const random = createRandom(`${what} start`);
        const start: Partial<Gradients> = accumulate
          ? { dx: mixedValues(random, rows * cols), dgamma: mixedValues(random, cols), dbeta: mixedValues(random, cols) }
          : {};
        const expected = backward(pair.js, c, accumulate, accumulate, start);
        const tolerance = backwardBounds(c, expected, start);
        for (const build of BUILDS) {
          const actual = backward(pair[build], c, accumulate, accumulate, start);
          expectClose(actual.dx, expected.dx, tolerance.dx, `${build} ${what}: dx`);
          expectClose(actual.dgamma, expected.dgamma, tolerance.dgamma, `${build} ${what}: dgamma`);
          expectClose(actual.dbeta, expected.dbeta, tolerance.dbeta, `${build} ${what}: dbeta`);
        }
      });
    }
  }

  it.each([[3, 17], [4, 64], [5, 1031]])('rows=%i cols=%i misaligned by one element', (rows, cols) => {
    const what = `layer_norm_backward misaligned rows=${rows} cols=${cols}`;
    const c = backwardCase(what, rows, cols, true);
    const expected = backward(pair.js, c, 0, 0, {}, {}, 1);
    const tolerance = backwardBounds(c, expected, {});
    for (const build of BUILDS) {
      const actual = backward(pair[build], c, 0, 0, {}, {}, 1);
      expectClose(actual.dx, expected.dx, tolerance.dx, `${build} ${what}: dx`);
      expectClose(actual.dgamma, expected.dgamma, tolerance.dgamma, `${build} ${what}: dgamma`);
      expectClose(actual.dbeta, expected.dbeta, tolerance.dbeta, `${build} ${what}: dbeta`);
    }
  });

  it.each([[1, 1], [3, 17], [128, 10], [17, 127]])('mixed modes, and each output at 0 skipped with its buffer untouched, rows=%i cols=%i', (rows, cols) => {
    const what = `layer_norm_backward skips rows=${rows} cols=${cols}`;
    const c = backwardCase(what, rows, cols, true);
    const random = createRandom(`${what} start`);
    const start = { dx: mixedValues(random, rows * cols), dgamma: mixedValues(random, cols), dbeta: mixedValues(random, cols) };
    for (const backend of [pair.wasm, pair.relaxed, pair.js]) {
      const name = `${backend.description} ${what}`;
      // dx added to, the parameters' gradients written: each output the same bits as in the full call.
      const full = backward(backend, c, 1, 0, start);
      for (const skipped of ['dx', 'dgamma', 'dbeta'] as const) {
        const partial = backward(backend, c, 1, 0, start, { [skipped]: true });
        for (const output of ['dx', 'dgamma', 'dbeta'] as const) {
          const expected = output === skipped ? start[output] : full[output];
          expectClose(partial[output], expected, exact, `${name}: ${output} with ${skipped} skipped`);
        }
      }
      const none = backward(backend, c, 0, 1, start, { dx: true, dgamma: true, dbeta: true });
      for (const output of ['dx', 'dgamma', 'dbeta'] as const) expectClose(none[output], start[output], exact, `${name}: ${output}, all skipped`);
    }
  });

  it.each([[3, 17], [128, 10], [5, 1031], [1031, 3]])('written, then accumulated, doubles exactly, rows=%i cols=%i', (rows, cols) => {
    const what = `layer_norm_backward twice rows=${rows} cols=${cols}`;
    const c = backwardCase(what, rows, cols, true);
    for (const backend of [pair.wasm, pair.relaxed, pair.js]) {
      const once = backward(backend, c, 0, 0);
      const twice = backward(backend, c, 1, 1, once);
      for (const output of ['dx', 'dgamma', 'dbeta'] as const) {
        expectClose(twice[output], once[output].map((v) => 2 * v), exact, `${backend.description} ${what}: ${output}`);
      }
    }
  });
});

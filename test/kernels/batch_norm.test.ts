// batch_norm_forward_train, batch_norm_forward_eval and batch_norm_backward: the twins on hand-computed
// columns and against finite differences in double, and both wasm builds against the twin over the
// channel tails (float64 statistics agree bit for bit; float32 passes within derived bounds).
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { batch_norm_backward, batch_norm_forward_eval, batch_norm_forward_train } from '../../src/backend/js/batch_norm.js';
import { createBackendPair, onBackend } from '../harness.js';
import { createRandom, mixedValues, unitValues } from '../random.js';
import { exact, expectClose, FLOAT32_EPSILON as EPS, relative, type Tolerance } from '../tolerance.js';

const pair = await createBackendPair();
const BUILDS = ['wasm', 'relaxed'] as const;
const EPSILON = 1e-5;
const MOMENTUM = 0.1;
const ROWS = [2, 3, 5, 17, 129];
const CHANNELS = [1, 3, 4, 5, 16, 17, 64];
const SHAPES = ROWS.flatMap((rows) => CHANNELS.map((channels): [number, number] => [rows, channels]));

function bounds(description: string, allowances: ArrayLike<number>): Tolerance {
  return { description, allowance: (_expected, index) => allowances[index] };
}

describe('batch norm twins on hand-computed values', () => {
  it('training forward: batch statistics, the running statistics\' update and the int64 counter', () => {
    // x [2 × 2] at 0: channel 0 is {1, 3} (mean 2, biased var 1, unbiased 2), channel 1 {10, 20}
    // (mean 15, var 25, unbiased 50). gamma at 4, beta at 6, out at 8, mean at 12, rstd at 14,
    // running mean at 16 (0, 0), running var at 18 (1, 1).
    const m = Float64Array.of(1, 10, 3, 20, 2, -1, 0.5, 0, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN, 0, 0, 1, 1);
    const ints = Int32Array.of(0, 0, 41, 0, -1, 6);
    batch_norm_forward_train(m, 8, 12, 14, 16, 18, ints, 2, 0, -1, -1, 2, 2, 0, MOMENTUM);
    expect(Array.from(m.subarray(8, 16))).toEqual([-1, -1, 1, 1, 2, 15, 1, 0.2]);
    expectClose(m.subarray(16, 20), [0.2, 1.5, 0.9 + 0.2, 0.9 + 5], relative(1e-15), 'running mean, running var (unbiased)');
    expect(Array.from(ints)).toEqual([0, 0, 42, 0, -1, 6]);
    // With gamma and beta; the counter's low word wraps into its high word.
    batch_norm_forward_train(m, 8, 12, 14, 16, 18, ints, 4, 0, 4, 6, 2, 2, 0, MOMENTUM);
    expect(Array.from(m.subarray(8, 12))).toEqual([-2 + 0.5, 1, 2 + 0.5, -1]);
    expectClose(m.subarray(16, 20), [0.38, 2.85, 0.99 + 0.2, 5.31 + 5], relative(1e-15), 'running statistics after two batches');
    expect(Array.from(ints)).toEqual([0, 0, 42, 0, 0, 7]);
    // Momentum 0 keeps the running statistics, 1 replaces them; eps is added to the variance.
    batch_norm_forward_train(m, 8, 12, 14, 16, 18, ints, -1, 0, -1, -1, 2, 2, 0.25, 1);
    expect(Array.from(m.subarray(14, 20))).toEqual([1 / Math.sqrt(1.25), 1 / Math.sqrt(25.25), 2, 15, 2, 50]);
    batch_norm_forward_train(m, 8, 12, 14, 16, 18, ints, -1, 0, -1, -1, 2, 2, 0.25, 0);
    expect(Array.from(m.subarray(16, 20))).toEqual([2, 15, 2, 50]);
  });

  it('eval forward: the running statistics, saved as mean and rstd, untouched', () => {
    // x at 0, running mean at 4 (1, −2), running var at 6 (3, 0), out at 8, mean at 12, rstd at 14.
    const m = Float64Array.of(1, 10, 3, 20, 1, -2, 3, 0, NaN, NaN, NaN, NaN, NaN, NaN, NaN, NaN);
    batch_norm_forward_eval(m, 8, 12, 14, 0, 4, 6, -1, -1, 2, 2, 1);
    expect(Array.from(m.subarray(4, 16))).toEqual([1, -2, 3, 0, 0, 12, 1, 22, 1, -2, 0.5, 1]);
  });

  it('backward with batch statistics and with the running ones, written and accumulated', () => {
    // The training case above: x̂ = [[−1, −1], [1, 1]], gamma (2, −1). dout [[1, 0], [3, 4]] at 4,
    // gamma at 8, mean at 10, rstd at 12, dx at 14, dgamma at 18, dbeta at 20.
    const m = new Float64Array(22).fill(NaN);
    m.set([1, 10, 3, 20, 1, 0, 3, 4, 2, -1, 2, 15, 1, 0.2]);
    batch_norm_backward(m, 14, 18, 20, 4, 0, 8, 10, 12, 2, 2, 1, 0, 0);
    // Channel 0: Σdout 4, Σdout·x̂ 2, so dx = 2·1·(dout − 2 − x̂·1) = [2·(1 − 2 + 1), 2·(3 − 2 − 1)] = 0;
    // channel 1: Σdout 4, Σdout·x̂ 4: dx = −1·0.2·(dout − 2 − 2x̂) = [−0.2·0, −0.2·0] (the batch is two points).
    expect(Array.from(m.subarray(14, 22)).map((v) => v + 0)).toEqual([0, 0, 0, 0, 2, 4, 4, 4]);
    // A batch of three in one channel: x {0, 1, 5}, mean 2, so x̂ = [−2, −1, 3]·rstd with rstd 1/√(14/3).
    const rstd = 1 / Math.sqrt(14 / 3);
    const k = new Float64Array(16).fill(NaN);
    k.set([0, 1, 5, 1, 0, 0, 2, rstd]);
    batch_norm_backward(k, 8, 11, 12, 3, 0, -1, 6, 7, 3, 1, 1, 0, 0);
    // Σdout = 1, Σdout·x̂ = −2·rstd: dx = rstd·(dout − 1/3 + x̂·2·rstd/3).
    const xhat = [-2, -1, 3].map((d) => d * rstd);
    const dx = [1, 0, 0].map((d, i) => rstd * (d - 1 / 3 + xhat[i] * (2 * rstd) / 3));
    expectClose(k.subarray(8, 11), dx, relative(1e-14), 'dx of three');
    expect(dx.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 14);
    expectClose([k[11], k[12]], [-2 * rstd, 1], relative(1e-15), 'dgamma, dbeta');
    // Accumulated, every output doubles exactly.
    const once = k.slice(8, 13);
    batch_norm_backward(k, 8, 11, 12, 3, 0, -1, 6, 7, 3, 1, 1, 1, 1);
    expect(Array.from(k.subarray(8, 13))).toEqual(Array.from(once, (v) => 2 * v));
    // With the running statistics (eval), dx is rstd·dout, the parameters' gradients as before; skipped outputs stay.
    batch_norm_backward(k, 8, -1, -1, 3, 0, -1, 6, 7, 3, 1, 0, 0, 0);
    expect(Array.from(k.subarray(8, 13))).toEqual([rstd, 0, 0, ...Array.from(once.subarray(3), (v) => 2 * v)]);
  });

  for (const batchStatistics of [1, 0]) {
    it(`backward in double agrees with central differences of the ${batchStatistics ? 'training' : 'eval'} forward`, () => {
      const [rows, channels] = [5, 3];
      const random = createRandom(`batch norm finite differences ${batchStatistics}`);
      const n = rows * channels;
      // Layout: x | gamma | beta | running mean | running var | out | mean | rstd | dout | dx | dgamma | dbeta.
      const [X, G, B, RM, RV, OUT, MEAN, RSTD, DOUT, DX, DG, DB] = [0, n, n + 3, n + 6, n + 9, n + 12, 2 * n + 12, 2 * n + 15, 2 * n + 18, 3 * n + 18, 4 * n + 18, 4 * n + 21];
      const m = new Float64Array(4 * n + 24);
      m.set(mixedValues(random, n), X);
      m.set(mixedValues(random, 2 * channels), G);
      m.set(mixedValues(random, channels), RM);
      m.set(unitValues(random, channels).map((v) => v + 0.5), RV);
      const weights = Float64Array.from(mixedValues(random, n));
      const ints = new Int32Array(2);
      const running = m.slice(RM, RV + channels);
      const loss = (): number => {
        m.set(running, RM);
        if (batchStatistics) batch_norm_forward_train(m, OUT, MEAN, RSTD, RM, RV, ints, 0, X, G, B, rows, channels, EPSILON, MOMENTUM);
        else batch_norm_forward_eval(m, OUT, MEAN, RSTD, X, RM, RV, G, B, rows, channels, EPSILON);
        return weights.reduce((sum, w, i) => sum + w * m[OUT + i], 0);
      };
      loss();
      m.set(weights, DOUT);
      batch_norm_backward(m, DX, DG, DB, DOUT, X, G, MEAN, RSTD, rows, channels, batchStatistics, 0, 0);
      const analytic = m.slice(DX, DB + channels);
      const numeric = Array.from({ length: n + 2 * channels }, (_, i) => (i < n ? X + i : G + i - n)).map((index) => {
        const h = 1e-6;
        const value = m[index];
        m[index] = value + h;
        const up = loss();
        m[index] = value - h;
        const down = loss();
        m[index] = value;
        return (up - down) / (2 * h);
      });
      expect(analytic.some((v) => Math.abs(v) > 0.1)).toBe(true);
      expectClose(analytic, numeric, { description: 'mixed(1e-7, 1e-6)', allowance: (e) => 1e-7 + 1e-6 * Math.abs(e) }, 'dx, dgamma, dbeta');
    });
  }
});

interface ForwardCase {
  rows: number;
  channels: number;
  x: Float32Array;
  gamma: Float32Array | undefined;
  beta: Float32Array | undefined;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

interface ForwardResult {
  out: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
  counter: Int32Array;
}

function forwardCase(what: string, rows: number, channels: number, affine: boolean, offset = 0): ForwardCase {
  const random = createRandom(what);
  return {
    rows, channels,
    x: mixedValues(random, rows * channels).map((v) => v + offset),
    gamma: affine ? mixedValues(random, channels) : undefined,
    beta: affine ? mixedValues(random, channels) : undefined,
    runningMean: mixedValues(random, channels),
    runningVar: unitValues(random, channels).map((v) => v + 0.25),
  };
}

function forward(backend: Backend, c: ForwardCase, training: boolean): ForwardResult {
  return onBackend(backend, (kernels, buffers) => {
    const { rows, channels } = c;
    const out = buffers.output(rows * channels);
    const mean = buffers.output(channels);
    const rstd = buffers.output(channels);
    const runningMean = buffers.output(channels, c.runningMean);
    const runningVar = buffers.output(channels, c.runningVar);
    const counter = buffers.labels(Int32Array.of(-1, 2));
    const x = buffers.input(c.x);
    const gamma = c.gamma ? buffers.input(c.gamma) : 0;
    const beta = c.beta ? buffers.input(c.beta) : 0;
    if (training) {
      kernels.batch_norm_forward_train(out, mean, rstd, runningMean, runningVar, counter, x, gamma, beta,
        buffers.output(4 * channels), rows, channels, EPSILON, MOMENTUM);
    } else {
      kernels.batch_norm_forward_eval(out, mean, rstd, x, runningMean, runningVar, gamma, beta, rows, channels, EPSILON);
    }
    return {
      out: buffers.read(out), mean: buffers.read(mean), rstd: buffers.read(rstd), runningMean: buffers.read(runningMean),
      runningVar: buffers.read(runningVar), counter: new Int32Array(buffers.read(counter).buffer),
    };
  });
}

/**
 * The float32 pass out = ((x − mean)·rstd)·gamma + beta rounds four times against the twin's one: at most
 * 3ε of |x̂·gamma| for the first three and ε of each of |x̂·gamma| + |beta| for the add, plus the twin's ½ε.
 */
function normalizeBound(c: ForwardCase, expected: ForwardResult): Tolerance {
  const allowances = Array.from(c.x, (v, i) => {
    const channel = i % c.channels;
    const scaled = Math.abs((v - expected.mean[channel]) * expected.rstd[channel] * (c.gamma?.[channel] ?? 1));
    return EPS * (4 * scaled + Math.abs(c.beta?.[channel] ?? 0) + Math.abs(expected.out[i]));
  });
  return bounds('four float32 roundings of (x − mean)·rstd·gamma + beta', allowances);
}

function compareForward(training: boolean, affine: boolean, rows: number, channels: number, offset = 0): void {
  const what = `batch_norm_forward_${training ? 'train' : 'eval'} (${affine ? 'affine' : 'no affine'}) rows=${rows} channels=${channels}${offset ? ` offset ${offset}` : ''}`;
  const c = forwardCase(what, rows, channels, affine, offset);
  const expected = forward(pair.js, c, training);
  expect(expected.out.every(Number.isFinite)).toBe(true);
  for (const build of BUILDS) {
    const actual = forward(pair[build], c, training);
    // The statistics are float64 sums in the twin's order: the same bits.
    for (const name of ['mean', 'rstd', 'runningMean', 'runningVar', 'counter'] as const) {
      expectClose(actual[name], expected[name], exact, `${build} ${what}: ${name}`);
    }
    expectClose(actual.out, expected.out, normalizeBound(c, expected), `${build} ${what}: out`);
  }
  expect(Array.from(expected.counter)).toEqual(training ? [0, 3] : [-1, 2]);
  if (!training) expectClose(expected.runningMean, c.runningMean, exact, 'eval leaves the running mean');
}

describe('batch norm forwards: both wasm builds against js', () => {
  for (const training of [true, false]) {
    for (const affine of [true, false]) {
      it.each(SHAPES)(`${training ? 'training' : 'eval'}, ${affine ? 'affine' : 'no affine'}, rows=%i channels=%i`, (rows, channels) =>
        compareForward(training, affine, rows, channels));
    }
  }
  // Columns about 1000 with spread about 1: the two passes keep the variance to its own rounding.
  it.each([[17, 5], [129, 64]])('columns offset by 1000, rows=%i channels=%i', (rows, channels) => compareForward(true, true, rows, channels, 1000));
});

interface BackwardCase extends ForwardCase {
  dout: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
}

interface Gradients {
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
}

function backward(
  backend: Backend, c: BackwardCase, batchStatistics: number, accumulate: number, start: Partial<Gradients>, skip: Partial<Record<keyof Gradients, boolean>> = {},
): Gradients {
  return onBackend(backend, (kernels, buffers) => {
    const dx = buffers.output(c.rows * c.channels, start.dx);
    const dgamma = buffers.output(c.channels, start.dgamma);
    const dbeta = buffers.output(c.channels, start.dbeta);
    kernels.batch_norm_backward(skip.dx ? 0 : dx, skip.dgamma ? 0 : dgamma, skip.dbeta ? 0 : dbeta, buffers.input(c.dout), buffers.input(c.x),
      c.gamma ? buffers.input(c.gamma) : 0, buffers.input(c.mean), buffers.input(c.rstd), buffers.output(7 * c.channels),
      c.rows, c.channels, batchStatistics, accumulate, accumulate);
    return { dx: buffers.read(dx), dgamma: buffers.read(dgamma), dbeta: buffers.read(dbeta) };
  });
}

/**
 * dgamma and dbeta are float64 sums in the twin's order, rounded once (twice when added to a start value):
 * an ulp of the result and of the start. dx = scale·((dout − mean dout) − x̂·mean(dout·x̂)) in float32
 * from float32 coefficients: some 8 roundings of the parts' magnitudes, and 2 ulps of the start and result.
 */
function backwardBounds(c: BackwardCase, expected: Gradients, start: Partial<Gradients>, batchStatistics: number) {
  const { rows, channels } = c;
  const doutSums = new Float64Array(channels);
  const doutXhatSums = new Float64Array(channels);
  const xhat = Array.from(c.x, (v, i) => (v - c.mean[i % channels]) * c.rstd[i % channels]);
  c.dout.forEach((d, i) => {
    doutSums[i % channels] += d;
    doutXhatSums[i % channels] += d * xhat[i];
  });
  const dx = Array.from(c.dout, (d, i) => {
    const channel = i % channels;
    const scale = Math.abs(c.rstd[channel] * (c.gamma?.[channel] ?? 1));
    const parts = batchStatistics ? Math.abs(d) + Math.abs(doutSums[channel] / rows) + Math.abs(xhat[i] * doutXhatSums[channel] / rows) : Math.abs(d);
    return EPS * (8 * scale * parts + 2 * Math.abs(start.dx?.[i] ?? 0) + 2 * Math.abs(expected.dx[i]));
  });
  const column = (values: Float32Array, startValues: Float32Array | undefined) =>
    Array.from(values, (v, j) => EPS * (Math.abs(v) + Math.abs(startValues?.[j] ?? 0)));
  return {
    dx: bounds('8 float32 roundings of dx\'s parts', dx),
    dgamma: bounds('an ulp of dgamma and of its start', column(expected.dgamma, start.dgamma)),
    dbeta: bounds('an ulp of dbeta and of its start', column(expected.dbeta, start.dbeta)),
  };
}

function backwardCase(what: string, rows: number, channels: number, affine: boolean, batchStatistics: number): BackwardCase {
  const c = forwardCase(what, rows, channels, affine);
  // Both sides read the same saved statistics: the twin's forward, as float32.
  const { mean, rstd } = forward(pair.js, c, batchStatistics !== 0);
  return { ...c, dout: mixedValues(createRandom(`${what} dout`), rows * channels), mean, rstd };
}

describe('batch_norm_backward: both wasm builds against js', () => {
  for (const batchStatistics of [1, 0]) {
    for (const accumulate of [0, 1]) {
      for (const affine of [true, false]) {
        const label = `${batchStatistics ? 'batch statistics' : 'running statistics'}, ${affine ? 'gamma' : 'no gamma'}, ${accumulate ? '"+=" onto start values' : '"=" over NaN'}`;
        it.each(SHAPES)(`${label}, rows=%i channels=%i`, (rows, channels) => {
          const what = `batch_norm_backward ${label} rows=${rows} channels=${channels}`;
          const c = backwardCase(what, rows, channels, affine, batchStatistics);
          const random = createRandom(`${what} start`);
          const start: Partial<Gradients> = accumulate
            ? { dx: mixedValues(random, rows * channels), dgamma: mixedValues(random, channels), dbeta: mixedValues(random, channels) }
            : {};
          const expected = backward(pair.js, c, batchStatistics, accumulate, start);
          const tolerance = backwardBounds(c, expected, start, batchStatistics);
          for (const build of BUILDS) {
            const actual = backward(pair[build], c, batchStatistics, accumulate, start);
            for (const output of ['dx', 'dgamma', 'dbeta'] as const) expectClose(actual[output], expected[output], tolerance[output], `${build} ${what}: ${output}`);
          }
        });
      }
    }
  }

  it.each([[2, 1], [5, 17], [129, 64]])('each output at 0 is skipped with its buffer untouched, the others the same bits, rows=%i channels=%i', (rows, channels) => {
    const what = `batch_norm_backward skips rows=${rows} channels=${channels}`;
    const c = backwardCase(what, rows, channels, true, 1);
    const random = createRandom(`${what} start`);
    const start = { dx: mixedValues(random, rows * channels), dgamma: mixedValues(random, channels), dbeta: mixedValues(random, channels) };
    for (const backend of [pair.wasm, pair.relaxed, pair.js]) {
      const full = backward(backend, c, 1, 1, start);
      for (const skipped of ['dx', 'dgamma', 'dbeta'] as const) {
        const partial = backward(backend, c, 1, 1, start, { [skipped]: true });
        for (const output of ['dx', 'dgamma', 'dbeta'] as const) {
          expectClose(partial[output], output === skipped ? start[output] : full[output], exact, `${backend.description} ${what}: ${output} with ${skipped} skipped`);
        }
      }
    }
  });
});

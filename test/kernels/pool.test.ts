// The pooling kernels (assembly/kernels/pool.ts): the twins on hand-computed windows (ties, NaN,
// padding, count_include_pad both ways, "=" and "+="), then both wasm builds against the twins over
// odd sizes, channel counts around the 4-lane vectors, kernels, strides and paddings.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import {
  avg_pool_backward, avg_pool_forward, global_avg_pool_backward, global_avg_pool_forward, max_pool_backward, max_pool_forward,
} from '../../src/backend/js/pool.js';
import { createBackendPair, onBackend } from '../harness.js';
import { createRandom, mixedValues, type Random } from '../random.js';
import { exact, expectClose, FLOAT32_EPSILON as EPS, largestMagnitude, mixed, relative } from '../tolerance.js';

const pair = await createBackendPair();
const BUILDS = ['wasm', 'relaxed'] as const;

describe('pooling twins on hand-computed windows', () => {
  it('max_pool_forward: ties keep the first in row-major order, NaN is the max (the last NaN), -inf windows keep their first', () => {
    // One sample 2×2×3 (channels last), kernel 2: channel 0 ties (3, 3), channel 1 holds NaNs, channel 2 is all −∞.
    const m = Float64Array.of(1, 2, -Infinity, 3, NaN, -Infinity, 3, 7, -Infinity, 2, NaN, -Infinity, NaN, NaN, NaN);
    const argmax = new Int32Array(3).fill(-7);
    max_pool_forward(m, 12, argmax, 0, 0, 1, 2, 2, 3, 1, 1, 2, 2, 2, 2, 0, 0);
    expect(Array.from(m.subarray(12, 15))).toEqual([3, NaN, -Infinity]);
    // Indices within the sample, (row·width + column)·channels + channel.
    expect(Array.from(argmax)).toEqual([3, 10, 2]);
  });

  it('max_pool_forward: padding is never selected, even over negative values', () => {
    // 2×2×1 all negative, kernel 2, stride 2, padding 1: each window holds one input element.
    const m = Float64Array.of(-1, -2, -3, -4, NaN, NaN, NaN, NaN);
    const argmax = new Int32Array(4).fill(-7);
    max_pool_forward(m, 4, argmax, 0, 0, 1, 2, 2, 1, 2, 2, 2, 2, 2, 2, 1, 1);
    expect(Array.from(m.subarray(4, 8))).toEqual([-1, -2, -3, -4]);
    expect(Array.from(argmax)).toEqual([0, 1, 2, 3]);
  });

  it('max_pool_backward: overlapping windows sum into their shared argmax, "=" over NaN and "+=" onto a start', () => {
    // Length 3, one channel, [1, 5, 2], kernel 2, stride 1: both windows pick element 1.
    const m = Float64Array.of(1, 5, 2, NaN, NaN, 0.5, 0.25, NaN, NaN, NaN);
    const argmax = new Int32Array(2);
    max_pool_forward(m, 3, argmax, 0, 0, 1, 1, 3, 1, 1, 2, 1, 2, 1, 1, 0, 0);
    expect(Array.from(m.subarray(3, 5))).toEqual([5, 5]);
    expect(Array.from(argmax)).toEqual([1, 1]);
    max_pool_backward(m, 7, 5, argmax, 0, 1, 3, 2, 0);
    expect(Array.from(m.subarray(7, 10))).toEqual([0, 0.75, 0]);
    m.set([1, 1, 1], 7);
    max_pool_backward(m, 7, 5, argmax, 0, 1, 3, 2, 1);
    expect(Array.from(m.subarray(7, 10))).toEqual([1, 1.75, 1]);
  });

  it('max_pool_backward: each sample scatters into its own rows', () => {
    // Two samples of 2 elements, one output each, argmax 1 and 0.
    const m = Float64Array.of(3, -2, NaN, NaN, NaN, NaN);
    max_pool_backward(m, 2, 0, Int32Array.of(1, 0), 0, 2, 2, 1, 0);
    expect(Array.from(m.subarray(2, 6))).toEqual([0, 3, -2, 0]);
  });

  // 3×3×1 of 1 … 9, kernel 3, stride 1, padding 1: a 3×3 output whose corner windows hold 4 elements,
  // edge windows 6, the centre 9.
  const nine = [1, 2, 3, 4, 5, 6, 7, 8, 9];

  it('avg_pool_forward: count_include_pad divides by the window, or by its in-bounds elements', () => {
    const m = new Float64Array(18).fill(NaN);
    m.set(nine);
    avg_pool_forward(m, 9, 0, 1, 3, 3, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1);
    const sums = [12, 21, 16, 27, 45, 33, 24, 39, 28];
    expect(Array.from(m.subarray(9))).toEqual(sums.map((s) => s / 9));
    avg_pool_forward(m, 9, 0, 1, 3, 3, 1, 3, 3, 3, 3, 1, 1, 1, 1, 0);
    expect(Array.from(m.subarray(9))).toEqual(sums.map((s, i) => s / [4, 6, 4, 6, 9, 6, 4, 6, 4][i]));
  });

  it('avg_pool_backward: every output spreads dout/count over its window, "=" and "+="', () => {
    // dout = 1 everywhere: with padding counted each element gets (windows covering it)/9.
    const m = new Float64Array(18).fill(NaN);
    m.fill(1, 0, 9);
    avg_pool_backward(m, 9, 0, 1, 3, 3, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 0);
    expectClose(m.subarray(9), [4, 6, 4, 6, 9, 6, 4, 6, 4].map((n) => n / 9), relative(1e-15), 'windows covering each element, over 9');
    // Without padding counted, the corner (0, 0) is in windows of 4, 6, 6 and 9 elements.
    avg_pool_backward(m, 9, 0, 1, 3, 3, 1, 3, 3, 3, 3, 1, 1, 1, 1, 0, 0);
    const corner = 1 / 4 + 1 / 6 + 1 / 6 + 1 / 9;
    // The centre is in all nine: four corners of 4, four edges of 6 and itself of 9.
    expectClose([m[9], m[13]], [corner, 4 / 4 + 4 / 6 + 1 / 9], relative(1e-15), 'corner and centre');
    const written = m.slice(9);
    avg_pool_backward(m, 9, 0, 1, 3, 3, 1, 3, 3, 3, 3, 1, 1, 1, 1, 0, 1);
    expectClose(m.subarray(9), Array.from(written, (v) => 2 * v), relative(1e-15), 'added onto its own result');
  });

  it('global_avg_pool: the mean of each channel per sample, and dout/positions back to every position', () => {
    // Two samples of 3 positions × 2 channels.
    const m = new Float64Array(24).fill(NaN);
    m.set([1, 10, 2, 20, 6, 60, -3, 0, 3, 0, 0, 9]);
    global_avg_pool_forward(m, 12, 0, 2, 3, 2);
    expect(Array.from(m.subarray(12, 16))).toEqual([3, 30, 0, 3]);
    m.set([3, 6, -9, 0], 12);
    global_avg_pool_backward(m, 16, 12, 1, 4, 2, 0);
    expect(Array.from(m.subarray(16, 24))).toEqual([0.75, 1.5, 0.75, 1.5, 0.75, 1.5, 0.75, 1.5]);
    global_avg_pool_backward(m, 16, 12, 1, 4, 2, 1);
    expect(Array.from(m.subarray(16, 24))).toEqual([1.5, 3, 1.5, 3, 1.5, 3, 1.5, 3]);
  });
});

interface Geometry {
  batch: number;
  height: number;
  width: number;
  channels: number;
  kernel: number;
  stride: number;
  padding: number;
  outHeight: number;
  outWidth: number;
}

/** The geometry of a square window over [batch, height, width, channels], or undefined where it does not fit. */
function geometry(batch: number, height: number, width: number, channels: number, kernel: number, stride: number, padding: number): Geometry | undefined {
  if (2 * padding > kernel || height + 2 * padding < kernel || width + 2 * padding < kernel) return undefined;
  const out = (size: number): number => Math.floor((size + 2 * padding - kernel) / stride) + 1;
  return { batch, height, width, channels, kernel, stride, padding, outHeight: out(height), outWidth: out(width) };
}

const inputSize = (g: Geometry): number => g.batch * g.height * g.width * g.channels;
const outputSize = (g: Geometry): number => g.batch * g.outHeight * g.outWidth * g.channels;

/** Small integers (many ties), with a NaN and a −∞ now and then. */
function tiedValues(random: Random, length: number): Float32Array {
  return Float32Array.from({ length }, () => {
    const u = random();
    if (u < 0.02) return NaN;
    if (u < 0.04) return -Infinity;
    return Math.floor(random() * 9) - 4;
  });
}

const windowArgs = (g: Geometry) => [g.batch, g.height, g.width, g.channels, g.outHeight, g.outWidth, g.kernel, g.kernel, g.stride, g.stride, g.padding, g.padding] as const;

function maxForward(backend: Backend, g: Geometry, x: Float32Array, misalignment: number): { out: Float32Array; argmax: Int32Array } {
  return onBackend(backend, (kernels, buffers) => {
    const out = buffers.output(outputSize(g));
    const argmax = buffers.output(outputSize(g));
    kernels.max_pool_forward(out, argmax, buffers.input(x), ...windowArgs(g));
    return { out: buffers.read(out), argmax: new Int32Array(buffers.read(argmax).buffer) };
  }, misalignment);
}

function maxBackward(backend: Backend, g: Geometry, dout: Float32Array, argmax: Int32Array, start: Float32Array | undefined, misalignment: number): Float32Array {
  return onBackend(backend, (kernels, buffers) => {
    const dx = buffers.output(inputSize(g), start);
    kernels.max_pool_backward(dx, buffers.input(dout), buffers.labels(argmax), g.batch, inputSize(g) / g.batch, outputSize(g) / g.batch, start ? 1 : 0);
    return buffers.read(dx);
  }, misalignment);
}

function avgForward(backend: Backend, g: Geometry, x: Float32Array, countIncludePad: number, misalignment: number): Float32Array {
  return onBackend(backend, (kernels, buffers) => {
    const out = buffers.output(outputSize(g));
    kernels.avg_pool_forward(out, buffers.input(x), ...windowArgs(g), countIncludePad);
    return buffers.read(out);
  }, misalignment);
}

function avgBackward(backend: Backend, g: Geometry, dout: Float32Array, countIncludePad: number, start: Float32Array | undefined, misalignment: number): Float32Array {
  return onBackend(backend, (kernels, buffers) => {
    const dx = buffers.output(inputSize(g), start);
    kernels.avg_pool_backward(dx, buffers.input(dout), ...windowArgs(g), countIncludePad, start ? 1 : 0);
    return buffers.read(dx);
  }, misalignment);
}

/** Every kernel of a window geometry on both wasm builds against the twins. */
function compareWindows(g: Geometry, misalignment = 0): void {
  const what = `batch ${g.batch} ${g.height}×${g.width}×${g.channels} kernel ${g.kernel} stride ${g.stride} padding ${g.padding}${misalignment ? ' misaligned' : ''}`;
  const random = createRandom(what);
  const tied = tiedValues(random, inputSize(g));
  const x = mixedValues(random, inputSize(g));
  const dout = mixedValues(random, outputSize(g));
  const start = mixedValues(random, inputSize(g));
  const expectedMax = maxForward(pair.js, g, tied, misalignment);
  // Every output is a value of its window: argmax points into the sample.
  expect(expectedMax.argmax.every((index) => index >= 0 && index < inputSize(g) / g.batch)).toBe(true);
  // No arithmetic in the max and a scatter in output order: every build gives the twin's bits.
  const maxGrads = [undefined, start].map((s) => maxBackward(pair.js, g, dout, expectedMax.argmax, s, misalignment));
  // The window sums round up to kernel² + 1 times in float32 (the twin's in double): a bound in ulps of
  // the largest |x|; each dx element takes at most ⌈kernel/stride⌉² shares of at most max|dout|.
  const average = mixed((g.kernel * g.kernel + 2) * EPS * largestMagnitude(x), 2 * EPS);
  const shares = Math.ceil(g.kernel / g.stride) ** 2;
  const spread = mixed((shares + 2) * EPS * (shares * largestMagnitude(dout) + largestMagnitude(start)), 2 * EPS);
  const averages = [1, 0].map((countIncludePad) => ({
    countIncludePad,
    out: avgForward(pair.js, g, x, countIncludePad, misalignment),
    grads: [undefined, start].map((s) => avgBackward(pair.js, g, dout, countIncludePad, s, misalignment)),
  }));
  for (const build of BUILDS) {
    const backend = pair[build];
    const actual = maxForward(backend, g, tied, misalignment);
    expectClose(actual.out, expectedMax.out, exact, `${build} max_pool_forward ${what}: out`);
    expect(Array.from(actual.argmax), `${build} max_pool_forward ${what}: argmax`).toEqual(Array.from(expectedMax.argmax));
    [undefined, start].forEach((s, i) => {
      expectClose(maxBackward(backend, g, dout, expectedMax.argmax, s, misalignment), maxGrads[i], exact, `${build} max_pool_backward ${what} ${s ? '+=' : '='}`);
    });
    for (const { countIncludePad, out, grads } of averages) {
      expectClose(avgForward(backend, g, x, countIncludePad, misalignment), out, average, `${build} avg_pool_forward ${what} countIncludePad ${countIncludePad}`);
      [undefined, start].forEach((s, i) => {
        expectClose(avgBackward(backend, g, dout, countIncludePad, s, misalignment), grads[i], spread,
          `${build} avg_pool_backward ${what} countIncludePad ${countIncludePad} ${s ? '+=' : '='}`);
      });
    }
  }
}

const SPATIAL: [number, number][] = [[1, 1], [1, 7], [3, 5], [5, 3], [7, 7], [14, 28], [28, 14]];
const CHANNELS = [1, 3, 4, 5, 16, 17];

describe('max_pool and avg_pool: both wasm builds against the twins', () => {
  for (const [height, width] of SPATIAL) {
    it.each(CHANNELS)(`${height}×${width}, channels %i, kernels 1–3, strides 1–3, paddings 0–1, batch 1 and 3`, (channels) => {
      let cases = 0;
      for (const kernel of [1, 2, 3]) {
        for (const stride of [1, 2, 3]) {
          for (const padding of [0, 1]) {
            const g = geometry(cases % 2 === 0 ? 3 : 1, height, width, channels, kernel, stride, padding);
            if (g === undefined) continue;
            compareWindows(g);
            cases++;
          }
        }
      }
      expect(cases).toBeGreaterThan(0);
    });
  }

  it.each([[5, 7, 5], [14, 14, 17]])('%i×%i, channels %i, every buffer misaligned by one element', (height, width, channels) => {
    compareWindows(geometry(3, height, width, channels, 3, 2, 1)!, 1);
    compareWindows(geometry(1, height, width, channels, 2, 2, 0)!, 1);
  });
});

function globalForward(backend: Backend, x: Float32Array, batch: number, positions: number, channels: number, misalignment: number): Float32Array {
  return onBackend(backend, (kernels, buffers) => {
    const out = buffers.output(batch * channels);
    kernels.global_avg_pool_forward(out, buffers.input(x), batch, positions, channels);
    return buffers.read(out);
  }, misalignment);
}

function globalBackward(
  backend: Backend, dout: Float32Array, batch: number, positions: number, channels: number, start: Float32Array | undefined, misalignment: number,
): Float32Array {
  return onBackend(backend, (kernels, buffers) => {
    const dx = buffers.output(batch * positions * channels, start);
    kernels.global_avg_pool_backward(dx, buffers.input(dout), batch, positions, channels, start ? 1 : 0);
    return buffers.read(dx);
  }, misalignment);
}

describe('global_avg_pool: both wasm builds against the twins', () => {
  const cases = [1, 3].flatMap((batch) => [1, 3, 7, 25, 196, 784].flatMap((positions) =>
    [1, 3, 4, 5, 16, 17, 35].map((channels): [number, number, number] => [batch, positions, channels])));
  it.each(cases)('batch %i, positions %i, channels %i', (batch, positions, channels) => {
    for (const misalignment of [0, 1]) {
      const what = `global_avg_pool batch ${batch} positions ${positions} channels ${channels}${misalignment ? ' misaligned' : ''}`;
      const random = createRandom(what);
      const x = mixedValues(random, batch * positions * channels);
      const dout = mixedValues(random, batch * channels);
      const start = mixedValues(random, batch * positions * channels);
      const expected = globalForward(pair.js, x, batch, positions, channels, misalignment);
      const grads = [undefined, start].map((s) => globalBackward(pair.js, dout, batch, positions, channels, s, misalignment));
      for (const build of BUILDS) {
        const backend = pair[build];
        expectClose(globalForward(backend, x, batch, positions, channels, misalignment), expected,
          mixed((positions + 2) * EPS * largestMagnitude(x), 2 * EPS), `${build} ${what} forward`);
        // "=": one correctly rounded division, the twin's bits; "+=": one more rounding of the sum.
        expectClose(globalBackward(backend, dout, batch, positions, channels, undefined, misalignment), grads[0], exact, `${build} ${what} backward =`);
        expectClose(globalBackward(backend, dout, batch, positions, channels, start, misalignment), grads[1],
          mixed(2 * EPS * (largestMagnitude(start) + largestMagnitude(dout)), 0), `${build} ${what} backward +=`);
      }
    }
  });
});

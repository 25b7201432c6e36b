// The depthwise convolution kernels (both builds) against their twins over channel counts around
// the 16-, 4- and 1-wide steps, odd image sizes, kernels, strides, paddings, dilations and batches,
// with NaN-filled outputs; a split of the weight gradient's channels against the whole; and the twins
// against hand-computed values.
import { describe, expect, it } from 'vitest';
import { depthwise_conv2d_forward, depthwise_conv2d_input_grad, depthwise_conv2d_weight_grad } from '../../src/backend/js/depthwise.js';
import type { Kernels } from '../../src/backend/kernels.js';
import { createBackendPair, onBackend, type Buffers } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { expectClose, scaled } from '../tolerance.js';

const pair = await createBackendPair();

/** float32 sums may differ by this many ulps of Σ|terms| between summation orders. */
const ULPS = 16;

interface Geometry {
  batch: number; height: number; width: number; channels: number;
  kernelH: number; kernelW: number; strideH: number; strideW: number; padH: number; padW: number; dilationH: number; dilationW: number;
}

const outputSize = (size: number, kernel: number, stride: number, pad: number, dilation: number): number =>
  Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;

function sizes(g: Geometry): { x: number; z: number; w: number } {
  const outH = outputSize(g.height, g.kernelH, g.strideH, g.padH, g.dilationH);
  const outW = outputSize(g.width, g.kernelW, g.strideW, g.padW, g.dilationW);
  return { x: g.batch * g.height * g.width * g.channels, z: g.batch * outH * outW * g.channels, w: g.kernelH * g.kernelW * g.channels };
}

const args = (g: Geometry): [number, number, number, number, number, number, number, number, number, number, number, number] => [
  g.batch, g.height, g.width, g.channels, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW,
];

const square = (batch: number, size: number, channels: number, kernel: number, stride = 1, pad = 0, dilation = 1): Geometry => ({
  batch, height: size, width: size, channels, kernelH: kernel, kernelW: kernel,
  strideH: stride, strideW: stride, padH: pad, padW: pad, dilationH: dilation, dilationW: dilation,
});

const fits = (g: Geometry): boolean => outputSize(g.height, g.kernelH, g.strideH, g.padH, g.dilationH) >= 1 &&
  outputSize(g.width, g.kernelW, g.strideW, g.padW, g.dilationW) >= 1;

// Channels over the 16-, 4- and 1-wide steps: 1, 3 (tail only), 4, 5, 8, 16, 17 and 33 (16 + 16 + 1).
const CHANNELS = [1, 3, 4, 5, 8, 16, 17, 33];
const geometries: Geometry[] = [];
for (const channels of CHANNELS) geometries.push(square(2, 7, channels, 3, 1, 1), square(3, 6, channels, 5, 2, 2, 1));
// Every size × kernel × stride × padding × dilation, the channels and the batch cycling through theirs
// (the larger images with the smaller channel counts, to keep the twins quick).
let cycle = 0;
for (const size of [1, 3, 5, 7, 14, 28]) {
  for (const kernel of [1, 3, 5]) {
    for (const stride of [1, 2]) {
      for (const pad of [0, 1, 2]) {
        for (const dilation of [1, 2]) {
          const choices = size >= 14 ? [1, 3, 5, 8] : CHANNELS;
          const g = square(cycle % 2 === 0 ? 1 : 3, size, choices[cycle % choices.length], kernel, stride, pad, dilation);
          cycle++;
          if (fits(g)) geometries.push(g);
        }
      }
    }
  }
}
geometries.push(
  { ...square(2, 6, 17, 3), height: 5, kernelH: 1, padW: 1 }, // rectangular
  { ...square(3, 1, 20, 1), width: 19, kernelW: 5, padW: 2, strideW: 2 }, // conv1d's shape: height 1
  { ...square(2, 9, 6, 3), kernelW: 2, strideH: 3, padH: 2, dilationW: 3 }, // stride 3 against dilation 1 and 3
  square(1, 11, 7, 4, 2, 3, 2), // an even kernel
);

type Product = 'forward' | 'forward with bias and relu' | 'input grad' | 'input grad +=' | 'weight grad' | 'weight grad +=';
const PRODUCTS: Product[] = ['forward', 'forward with bias and relu', 'input grad', 'input grad +=', 'weight grad', 'weight grad +='];

const describeGeometry = (g: Geometry): string =>
  `batch ${g.batch}, ${g.height}×${g.width}×${g.channels}, kernel ${g.kernelH}×${g.kernelW}, ` +
  `stride ${g.strideH},${g.strideW}, pad ${g.padH},${g.padW}, dilation ${g.dilationH},${g.dilationW}`;

interface Operands { x: Float32Array; w: Float32Array; bias: Float32Array; dz: Float32Array; start: Float32Array }

// Runs one product with the twin over float64 memory: the expected values, or with every operand
// made absolute (start values included), the Σ|terms| each element's rounding grows with. The weight
// gradient's result is dw then dbias.
function twin(product: Product, g: Geometry, o: Operands, absolute: boolean): Float64Array {
  const s = sizes(g);
  const at = { x: 0, w: s.x, bias: s.x + s.w, dz: s.x + s.w + g.channels };
  const out = at.dz + s.z;
  const length = product.startsWith('forward') ? s.z : product.startsWith('input') ? s.x : s.w + g.channels;
  const m = new Float64Array(out + length);
  const put = (values: Float32Array, index: number): void => m.set(absolute ? values.map(Math.abs) : values, index);
  put(o.x, at.x); put(o.w, at.w); put(o.bias, at.bias); put(o.dz, at.dz);
  if (product.endsWith('+=')) put(o.start, out);
  if (product === 'forward') depthwise_conv2d_forward(m, out, out, at.x, at.w, -1, ...args(g), 0, 0);
  // The activation is checked on the real values; the magnitudes are those of z.
  else if (product === 'forward with bias and relu') depthwise_conv2d_forward(m, out, out, at.x, at.w, at.bias, ...args(g), absolute ? 0 : 1, 0);
  else if (product.startsWith('input')) depthwise_conv2d_input_grad(m, out, at.dz, at.w, ...args(g), product.endsWith('+=') ? 1 : 0);
  else depthwise_conv2d_weight_grad(m, out, out + s.w, at.x, at.dz, ...args(g), 0, g.channels, product.endsWith('+=') ? 1 : 0);
  return m.subarray(out);
}

function runKernel(product: Product, g: Geometry, o: Operands, kernels: Kernels, buffers: Buffers): Float32Array {
  const s = sizes(g);
  const x = buffers.input(o.x);
  const w = buffers.input(o.w);
  if (product.startsWith('forward')) {
    const z = buffers.output(s.z);
    if (product === 'forward') kernels.depthwise_conv2d_forward(z, z, x, w, 0, ...args(g), 0, 0);
    else kernels.depthwise_conv2d_forward(z, z, x, w, buffers.input(o.bias), ...args(g), 1, 0);
    return buffers.read(z);
  }
  const dz = buffers.input(o.dz);
  const accumulate = product.endsWith('+=') ? 1 : 0;
  if (product.startsWith('input')) {
    const dx = buffers.output(s.x, accumulate ? o.start : undefined);
    kernels.depthwise_conv2d_input_grad(dx, dz, w, ...args(g), accumulate);
    return buffers.read(dx);
  }
  const dw = buffers.output(s.w, accumulate ? o.start.subarray(0, s.w) : undefined);
  const dbias = buffers.output(g.channels, accumulate ? o.start.subarray(s.w) : undefined);
  kernels.depthwise_conv2d_weight_grad(dw, dbias, x, dz, ...args(g), 0, g.channels, accumulate);
  return Float32Array.from([...buffers.read(dw), ...buffers.read(dbias)]);
}

function operands(product: Product, g: Geometry): Operands {
  const random = createRandom(`${product} ${describeGeometry(g)}`);
  const s = sizes(g);
  const start = product.startsWith('input') ? s.x : s.w + g.channels;
  return {
    x: mixedValues(random, s.x), w: mixedValues(random, s.w), bias: mixedValues(random, g.channels),
    dz: mixedValues(random, s.z), start: mixedValues(random, start),
  };
}

describe('depthwise conv2d kernels agree with their twins (NaN-filled outputs)', () => {
  it(`covers ${geometries.length} geometries, every size, kernel, stride, padding and dilation of the list`, () => {
    for (const size of [1, 3, 5, 7, 14, 28]) expect(geometries.some((g) => g.height === size)).toBe(true);
    for (const channels of CHANNELS) expect(geometries.filter((g) => g.channels === channels).length).toBeGreaterThan(4);
  });

  for (const build of ['wasm', 'relaxed'] as const) {
    for (const product of PRODUCTS) {
      it(`${build}: ${product}`, () => {
        for (const g of geometries) {
          const o = operands(product, g);
          const expected = twin(product, g, o, false);
          const magnitudes = twin(product, g, o, true);
          const actual = onBackend(pair[build], (kernels, buffers) => runKernel(product, g, o, kernels, buffers), 3);
          expect(actual.some(Number.isNaN), describeGeometry(g)).toBe(false);
          expectClose(actual, expected, scaled(magnitudes, ULPS), `${product}, ${describeGeometry(g)}`);
        }
      });
    }
  }

  for (const build of ['wasm', 'relaxed'] as const) {
    it(`${build}: the weight gradient of a range of channels is the same bits as those channels of the whole (the threads' split)`, () => {
      const g = square(3, 9, 37, 3, 2, 1);
      const o = operands('weight grad', g);
      const whole = onBackend(pair[build], (kernels, buffers) => runKernel('weight grad', g, o, kernels, buffers));
      const parts = onBackend(pair[build], (kernels, buffers) => {
        const s = sizes(g);
        const [x, dz] = [buffers.input(o.x), buffers.input(o.dz)];
        const [dw, dbias] = [buffers.output(s.w), buffers.output(g.channels)];
        // Splits that move channels between the 16-wide, 4-wide and lane-by-lane steps.
        for (const [first, count] of [[0, 3], [3, 18], [21, 5], [26, 11]]) {
          kernels.depthwise_conv2d_weight_grad(dw, dbias, x, dz, ...args(g), first, count, 0);
        }
        return Float32Array.from([...buffers.read(dw), ...buffers.read(dbias)]);
      });
      expect(new Uint32Array(parts.buffer)).toEqual(new Uint32Array(whole.buffer));
    });
  }

  it('the forward of a batch is the same bits as its samples one by one (the threads\' split)', () => {
    const g = square(3, 8, 21, 3, 1, 1);
    const o = operands('forward with bias and relu', g);
    const whole = onBackend(pair.relaxed, (kernels, buffers) => runKernel('forward with bias and relu', g, o, kernels, buffers));
    const s = sizes(g);
    const bySample = onBackend(pair.relaxed, (kernels, buffers) => {
      const [x, w, bias, z] = [buffers.input(o.x), buffers.input(o.w), buffers.input(o.bias), buffers.output(s.z)];
      for (let n = 0; n < g.batch; n++) {
        const [xAt, zAt] = [x + (n * s.x) / g.batch * 4, z + (n * s.z) / g.batch * 4];
        kernels.depthwise_conv2d_forward(zAt, zAt, xAt, w, bias, ...args({ ...g, batch: 1 }), 1, 0);
      }
      return buffers.read(z);
    });
    expect(new Uint32Array(bySample.buffer)).toEqual(new Uint32Array(whole.buffer));
  });

  it('without a bias pointer the weight gradient writes dw alone', () => {
    const g = square(2, 5, 6, 3, 1, 1);
    const o = operands('weight grad', g);
    const whole = onBackend(pair.wasm, (kernels, buffers) => runKernel('weight grad', g, o, kernels, buffers));
    const alone = onBackend(pair.wasm, (kernels, buffers) => {
      const dw = buffers.output(sizes(g).w);
      kernels.depthwise_conv2d_weight_grad(dw, 0, buffers.input(o.x), buffers.input(o.dz), ...args(g), 0, g.channels, 0);
      return buffers.read(dw);
    });
    expect(Array.from(alone)).toEqual(Array.from(whole.subarray(0, sizes(g).w)));
  });
});

describe('depthwise twins on hand-computed values', () => {
  // Two channels of a 3×3 image: channel 0 holds 1…9, channel 1 ten times that. A 2×2 kernel per
  // channel: ones but one 2 for channel 0, all −1 for channel 1.
  const g = square(1, 3, 2, 2);
  const plane = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const image = plane.flatMap((v) => [v, 10 * v]);
  const kernel = [1, -1, 1, -1, 1, -1, 2, -1];
  it('forward: each channel sums its own window, with its bias and the activation', () => {
    const m = new Float64Array([...image, ...kernel, -20, 100, ...new Array(8).fill(NaN)]);
    depthwise_conv2d_forward(m, 28, 28, 0, 18, 26, ...args(g), 1, 0);
    // Channel 0: (1 + 2 + 4 + 2·5) − 20 = −3 → relu 0, 2 + 3 + 5 + 12 − 20 = 2, 12, 17. Channel 1: 100 − 10·(window sum), relu.
    expect([...m.subarray(28)]).toEqual([0, 0, 2, 0, 12, 0, 17, 0]);
    depthwise_conv2d_forward(m, 28, 28, 0, 18, 26, ...args(g), 0, 0);
    expect([...m.subarray(28)]).toEqual([-3, 100 - 120, 2, 100 - 160, 12, 100 - 240, 17, 100 - 280]);
  });
  it('input gradient: each pixel gets the weights of the windows that hold it, per channel', () => {
    const m = new Float64Array([...kernel, ...new Array(8).fill(1), ...new Array(18).fill(100)]);
    depthwise_conv2d_input_grad(m, 16, 8, 0, ...args(g), 0);
    expect([...m.subarray(16)]).toEqual([1, -1, 2, -2, 1, -1, 2, -2, 5, -4, 3, -2, 1, -1, 3, -2, 2, -1]);
    depthwise_conv2d_input_grad(m, 16, 8, 0, ...args(g), 1);
    expect([...m.subarray(16, 20)]).toEqual([2, -2, 4, -4]);
  });
  it('weight gradient: each tap sums the pixels it saw, the bias the output gradient; a channel range touches only its channels', () => {
    const m = new Float64Array([...image, ...new Array(8).fill(1), ...new Array(10).fill(7)]);
    depthwise_conv2d_weight_grad(m, 26, 34, 0, 18, ...args(g), 0, 2, 0);
    expect([...m.subarray(26)]).toEqual([12, 120, 16, 160, 24, 240, 28, 280, 4, 4]);
    m.fill(7, 26);
    depthwise_conv2d_weight_grad(m, 26, 34, 0, 18, ...args(g), 1, 1, 1);
    expect([...m.subarray(26)]).toEqual([7, 127, 7, 167, 7, 247, 7, 287, 7, 11]);
  });
  it('stride 2, padding 1 and dilation 2: windows over the zero border', () => {
    const s = square(1, 3, 1, 2, 2, 1, 2);
    const m = new Float64Array([...plane, 1, 1, 1, 2, 0, 0, 0, 0]);
    depthwise_conv2d_forward(m, 13, 13, 0, 9, -1, ...args(s), 0, 0);
    // Windows at (−1, −1), (−1, 1), (1, −1), (1, 1), taps 2 apart: each has one tap inside, on pixel (1, 1) = 5.
    expect([...m.subarray(13)]).toEqual([2 * 5, 5, 5, 5]);
  });
});

// The convolution kernels against their twins (the plain nested loops) over odd image sizes, channel
// counts, kernels, strides, paddings, dilations, batches and channel groups, with NaN-filled outputs
// and scratch; and the twins against hand-computed values.
import { describe, expect, it } from 'vitest';
import { conv2d_forward, conv2d_grouped_forward, conv2d_input_grad, conv2d_weight_grad } from '../../src/backend/js/conv.js';
import { CONV_WEIGHT_SCRATCH_BYTES, convScratchBytes, type Kernels } from '../../src/backend/kernels.js';
import { createBackendPair, onBackend, type Buffers } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { expectClose, scaled } from '../tolerance.js';

const pair = await createBackendPair();

/** float32 sums may differ by this many ulps of Σ|terms| between summation orders. */
const ULPS = 16;

interface Geometry {
  batch: number; height: number; width: number; inChannels: number; outChannels: number; groups: number;
  kernelH: number; kernelW: number; strideH: number; strideW: number; padH: number; padW: number; dilationH: number; dilationW: number;
}

const outputSize = (size: number, kernel: number, stride: number, pad: number, dilation: number): number =>
  Math.floor((size + 2 * pad - dilation * (kernel - 1) - 1) / stride) + 1;

function sizes(g: Geometry): { x: number; z: number; w: number; outH: number; outW: number } {
  const outH = outputSize(g.height, g.kernelH, g.strideH, g.padH, g.dilationH);
  const outW = outputSize(g.width, g.kernelW, g.strideW, g.padW, g.dilationW);
  return {
    x: g.batch * g.height * g.width * g.inChannels, z: g.batch * outH * outW * g.outChannels,
    w: (g.kernelH * g.kernelW * g.inChannels * g.outChannels) / g.groups, outH, outW,
  };
}

const args = (g: Geometry): [number, number, number, number, number, number, number, number, number, number, number, number, number] => [
  g.batch, g.height, g.width, g.inChannels, g.outChannels, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW,
];

/** The arguments of the kernels that take a group count: after the channels. */
const groupedArgs = (g: Geometry): [number, number, number, number, number, number, number, number, number, number, number, number, number, number] => [
  g.batch, g.height, g.width, g.inChannels, g.outChannels, g.groups, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW,
];

/** Rows of the weight gradient's matrix: the groups' kernelH·kernelW·inChannels/groups each. */
const weightRows = (g: Geometry): number => g.kernelH * g.kernelW * g.inChannels;

const square = (batch: number, size: number, inChannels: number, outChannels: number, kernel: number, stride = 1, pad = 0, dilation = 1): Geometry => ({
  batch, height: size, width: size, inChannels, outChannels, groups: 1, kernelH: kernel, kernelW: kernel,
  strideH: stride, strideW: stride, padH: pad, padW: pad, dilationH: dilation, dilationW: dilation,
});

const geometries: Geometry[] = [];
// Channels over the tails of the 4-lane loads and 8-wide panels, around LeNet's and VGG's shapes.
for (const inChannels of [1, 3, 4, 5, 16, 17]) {
  for (const outChannels of [1, 3, 4, 5, 8, 16, 17]) geometries.push(square(2, 5, inChannels, outChannels, 3, 1, 1));
}
for (const size of [1, 3, 5, 7, 14]) geometries.push(square(3, size, 3, 6, 3, 1, 1), square(1, size, 2, 5, 1));
geometries.push(
  square(2, 28, 1, 6, 5, 1, 2), // LeNet's first convolution
  square(2, 14, 6, 16, 5), // and its second
  square(1, 16, 32, 32, 3, 1, 1), // VGG's
  square(3, 7, 5, 9, 3, 2, 1), // strided
  square(2, 9, 4, 4, 3, 3, 0),
  square(2, 8, 3, 5, 2, 2, 0),
  square(2, 9, 3, 4, 3, 1, 2, 2), // dilated
  square(1, 11, 4, 3, 3, 2, 3, 2),
  { ...square(2, 6, 3, 5, 3), height: 5, kernelH: 1, padW: 1 }, // rectangular
  { ...square(3, 1, 4, 8, 1), width: 19, kernelW: 5, padW: 2, strideW: 2 }, // conv1d's shape: height 1
  { ...square(2, 7, 3, 7, 3), kernelW: 2, strideH: 2, padH: 1, dilationW: 2 },
  square(37, 5, 3, 8, 3, 1, 1), // more rows than a packed block of 128
  square(5, 20, 3, 4, 3, 1, 1), // more positions than a weight-gradient chunk of 256
  // Grouped: AlexNet's groups 2, a channel multiplier (groups = in < out), groups of 5 → 3 and of 1 → 9
  // channels (the panel's tail), one-channel groups strided and dilated, more rows than a packed block.
  { ...square(2, 7, 8, 12, 3, 1, 1), groups: 2 },
  { ...square(2, 6, 4, 8, 3, 1, 1), groups: 4 },
  { ...square(3, 5, 15, 9, 3, 2, 1), groups: 3 },
  { ...square(1, 7, 3, 27, 3, 1, 2, 2), groups: 3 },
  { ...square(2, 9, 6, 6, 3, 2, 1), groups: 2 },
  { ...square(3, 1, 6, 4, 1), width: 19, kernelW: 5, padW: 2, strideW: 2, groups: 2 }, // a grouped conv1d
  { ...square(37, 5, 4, 8, 3, 1, 1), groups: 2 },
  { ...square(5, 20, 6, 6, 3, 1, 1), groups: 3 },
  // One input channel (the padded-band paths): kernels wider than the weight gradient's 4 taps a pass,
  // strides and dilations along the height only, bands of output rows, 1-D, one column, a 1×1 kernel.
  square(2, 13, 1, 6, 7, 1, 3),
  { ...square(2, 11, 1, 9, 3, 1, 1), strideH: 2, dilationH: 2 },
  { ...square(1, 45, 1, 10, 5, 1, 2), height: 30 },
  { ...square(3, 1, 1, 7, 1), width: 23, kernelW: 5, padW: 2 },
  { ...square(2, 6, 1, 4, 3), width: 1, kernelW: 1 },
  square(2, 6, 1, 5, 1),
  // A row too wide for the forward's band in its scratch: the packed path.
  { ...square(1, 1, 1, 3, 1), width: 1500, kernelW: 3, padW: 1 },
);

type Product = 'forward' | 'forward with bias and relu' | 'input grad' | 'input grad +=' | 'weight grad' | 'weight grad +=';
const PRODUCTS: Product[] = ['forward', 'forward with bias and relu', 'input grad', 'input grad +=', 'weight grad', 'weight grad +='];

const describeGeometry = (g: Geometry): string =>
  `batch ${g.batch}, ${g.height}×${g.width}×${g.inChannels} → ${g.outChannels}${g.groups > 1 ? ` in ${g.groups} groups` : ''}, kernel ${g.kernelH}×${g.kernelW}, ` +
  `stride ${g.strideH},${g.strideW}, pad ${g.padH},${g.padW}, dilation ${g.dilationH},${g.dilationW}`;

interface Operands { x: Float32Array; w: Float32Array; bias: Float32Array; dz: Float32Array; start: Float32Array }

// Runs one product with the twin over float64 memory: the expected values, or with every operand
// made absolute (start values included), the Σ|terms| each element's rounding grows with.
function twin(product: Product, g: Geometry, o: Operands, absolute: boolean): Float64Array {
  const s = sizes(g);
  const at = { x: 0, w: s.x, bias: s.x + s.w, dz: s.x + s.w + g.outChannels };
  const out = at.dz + s.z;
  const length = product.startsWith('forward') ? s.z : product.startsWith('input') ? s.x : s.w;
  const m = new Float64Array(out + length);
  const put = (values: Float32Array, index: number): void => m.set(absolute ? values.map(Math.abs) : values, index);
  put(o.x, at.x); put(o.w, at.w); put(o.bias, at.bias); put(o.dz, at.dz);
  if (product.endsWith('+=')) put(o.start, out);
  // The grouped forward has no activation (a relu after it in the layer): it is checked with the bias alone.
  if (g.groups > 1 && product.startsWith('forward')) {
    conv2d_grouped_forward(m, out, at.x, at.w, product === 'forward' ? -1 : at.bias, ...groupedArgs(g));
  } else if (product === 'forward') conv2d_forward(m, out, out, at.x, at.w, -1, ...args(g), 0, 0);
  // The activation is checked on the real values; the magnitudes are those of z.
  else if (product === 'forward with bias and relu') conv2d_forward(m, out, out, at.x, at.w, at.bias, ...args(g), absolute ? 0 : 1, 0);
  else if (product.startsWith('input')) conv2d_input_grad(m, out, at.dz, at.w, ...groupedArgs(g), product.endsWith('+=') ? 1 : 0);
  else conv2d_weight_grad(m, out, at.x, at.dz, ...groupedArgs(g), 0, weightRows(g), product.endsWith('+=') ? 1 : 0);
  return m.subarray(out);
}

function runKernel(product: Product, g: Geometry, o: Operands, kernels: Kernels, buffers: Buffers): Float32Array {
  const s = sizes(g);
  const x = buffers.input(o.x);
  const w = buffers.input(o.w);
  if (product.startsWith('forward')) {
    const scratch = buffers.output(convScratchBytes((g.kernelH * g.kernelW * g.inChannels) / g.groups) / 4);
    const z = buffers.output(s.z);
    if (g.groups > 1) kernels.conv2d_grouped_forward(z, x, w, product === 'forward' ? 0 : buffers.input(o.bias), ...groupedArgs(g), scratch);
    else if (product === 'forward') kernels.conv2d_forward(z, z, x, w, 0, ...args(g), 0, 0, scratch);
    else kernels.conv2d_forward(z, z, x, w, buffers.input(o.bias), ...args(g), 1, 0, scratch);
    return buffers.read(z);
  }
  const dz = buffers.input(o.dz);
  const accumulate = product.endsWith('+=') ? 1 : 0;
  if (product.startsWith('input')) {
    const scratch = buffers.output(convScratchBytes((g.kernelH * g.kernelW * g.outChannels) / g.groups) / 4);
    const dx = buffers.output(s.x, accumulate ? o.start : undefined);
    kernels.conv2d_input_grad(dx, dz, w, ...groupedArgs(g), accumulate, scratch);
    return buffers.read(dx);
  }
  const scratch = buffers.output(CONV_WEIGHT_SCRATCH_BYTES / 4);
  const dw = buffers.output(s.w, accumulate ? o.start : undefined);
  kernels.conv2d_weight_grad(dw, x, dz, ...groupedArgs(g), 0, weightRows(g), accumulate, scratch);
  return buffers.read(dw);
}

function operands(product: Product, g: Geometry): Operands {
  const random = createRandom(`${product} ${describeGeometry(g)}`);
  const s = sizes(g);
  const start = product.startsWith('input') ? s.x : s.w;
  return {
    x: mixedValues(random, s.x), w: mixedValues(random, s.w), bias: mixedValues(random, g.outChannels),
    dz: mixedValues(random, s.z), start: mixedValues(random, start),
  };
}

describe('conv2d kernels agree with their twins (NaN-filled outputs and scratch)', () => {
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

  for (const [groups, inChannels, kernel] of [[1, 8, 3], [2, 8, 3], [1, 1, 9], [1, 3, 5]]) {
    it(`the weight gradient of a block of rows is the same bits as those rows of the whole (the threads' split), ${groups} group(s), ${inChannels} channel(s)`, () => {
      const g = { ...square(3, 9, 8, 12, kernel, 1, kernel >> 1), groups, inChannels };
      const o = operands('weight grad', g);
      const rows = weightRows(g);
      const whole = onBackend(pair.wasm, (kernels, buffers) => runKernel('weight grad', g, o, kernels, buffers));
      const parts = onBackend(pair.wasm, (kernels, buffers) => {
        const x = buffers.input(o.x);
        const dz = buffers.input(o.dz);
        const dw = buffers.output(sizes(g).w);
        const scratch = buffers.output(CONV_WEIGHT_SCRATCH_BYTES / 4);
        // With 2 groups of 36 rows, the second part crosses from one group into the other.
        for (const [first, count] of [[0, 20], [20, 44], [64, rows - 64]]) {
          kernels.conv2d_weight_grad(dw, x, dz, ...groupedArgs(g), first, count, 0, scratch);
        }
        return buffers.read(dw);
      });
      expect(new Uint32Array(parts.buffer)).toEqual(new Uint32Array(whole.buffer));
    });
  }

  it('the grouped forward in one group is the same bits as conv2d_forward (one set of loops)', () => {
    const g = square(2, 7, 5, 6, 3, 1, 1);
    const o = operands('forward with bias and relu', g);
    for (const build of ['wasm', 'relaxed'] as const) {
      const [plain, grouped] = [false, true].map((viaGroups) => onBackend(pair[build], (kernels, buffers) => {
        const [x, w, bias] = [buffers.input(o.x), buffers.input(o.w), buffers.input(o.bias)];
        const z = buffers.output(sizes(g).z);
        const scratch = buffers.output(convScratchBytes(g.kernelH * g.kernelW * g.inChannels) / 4);
        if (viaGroups) kernels.conv2d_grouped_forward(z, x, w, bias, ...groupedArgs(g), scratch);
        else kernels.conv2d_forward(z, z, x, w, bias, ...args(g), 0, 0, scratch);
        return buffers.read(z);
      }));
      expect(new Uint32Array(grouped.buffer), build).toEqual(new Uint32Array(plain.buffer));
    }
  });
});

describe('conv2d twins on hand-computed values', () => {
  // A 3×3 single-channel image, a 2×2 kernel of ones but one 2, pad 0: each output sums a window.
  const g = square(1, 3, 1, 1, 2);
  const image = [1, 2, 3, 4, 5, 6, 7, 8, 9];
  const kernel = [1, 1, 1, 2];
  it('forward: window sums, with the bias and the activation', () => {
    const m = new Float64Array([...image, ...kernel, -20, 0, 0, 0, 0]);
    conv2d_forward(m, 14, 14, 0, 9, 13, ...args(g), 1, 0);
    // (1 + 2 + 4 + 2·5) − 20 = −3 → relu 0; 2 + 3 + 5 + 12 − 20 = 2; 4 + 5 + 7 + 16 − 20 = 12; 5 + 6 + 8 + 18 − 20 = 17.
    expect([...m.subarray(14)]).toEqual([0, 2, 12, 17]);
  });
  it('input gradient: each pixel gets the weights of the windows that hold it', () => {
    const m = new Float64Array([...kernel, 1, 1, 1, 1, ...new Array(9).fill(100)]);
    conv2d_input_grad(m, 8, 4, 0, ...groupedArgs(g), 0);
    expect([...m.subarray(8)]).toEqual([1, 2, 1, 2, 5, 3, 1, 3, 2]);
    conv2d_input_grad(m, 8, 4, 0, ...groupedArgs(g), 1);
    expect([...m.subarray(8)]).toEqual([2, 4, 2, 4, 10, 6, 2, 6, 4]);
  });
  it('weight gradient: each tap sums the pixels it saw', () => {
    const m = new Float64Array([...image, 1, 1, 1, 1, 0, 0, 0, 0]);
    conv2d_weight_grad(m, 13, 0, 9, ...groupedArgs(g), 0, 4, 0);
    expect([...m.subarray(13)]).toEqual([12, 16, 24, 28]);
  });
  it('stride 2 and padding 1: windows over the zero border', () => {
    const s = square(1, 3, 1, 1, 2, 2, 1);
    const m = new Float64Array([...image, ...kernel, 0, 0, 0, 0]);
    conv2d_forward(m, 13, 13, 0, 9, -1, ...args(s), 0, 0);
    // Windows at (−1, −1), (−1, 1), (1, −1), (1, 1): only their in-image taps count.
    expect([...m.subarray(13)]).toEqual([2 * 1, 2 + 2 * 3, 4 + 2 * 7, 5 + 6 + 8 + 2 * 9]);
  });
  it('groups: each output channel sees only its group\'s input channels', () => {
    // One pixel of 4 channels [1, 2, 3, 4], a 1×1 kernel, 2 groups of 2 → 1: w[g] = [[10], [100]].
    const one = { ...square(1, 1, 4, 2, 1), groups: 2 };
    const m = new Float64Array([1, 2, 3, 4, 10, 100, 10, 100, 0.5, -0.5, NaN, NaN]);
    conv2d_grouped_forward(m, 10, 0, 4, 8, ...groupedArgs(one));
    expect([...m.subarray(10)]).toEqual([0.5 + 10 + 200, -0.5 + 30 + 400]);
    // Back: dz = [1, 2] gives dx = [10, 100, 20, 200] and dw = [1, 2, 6, 8] (x times its group's dz).
    const back = new Float64Array([1, 2, 3, 4, 10, 100, 10, 100, 1, 2, ...new Array(8).fill(NaN)]);
    conv2d_input_grad(back, 10, 8, 4, ...groupedArgs(one), 0);
    expect([...back.subarray(10, 14)]).toEqual([10, 100, 20, 200]);
    conv2d_weight_grad(back, 14, 0, 8, ...groupedArgs(one), 0, 4, 0);
    expect([...back.subarray(14)]).toEqual([1, 2, 6, 8]);
  });
});

// Convolution products alone: the three kernels of one conv2d layer (forward with bias and relu fused,
// input gradient, weight gradient) on channels-last images [batch, height, width, channels] and a
// weight [kernel, kernel, inChannels, outChannels], called through a backend's kernels on operands in
// its heap, as gemm.ts calls the GEMMs — and a check that the wasm kernels agree with the js twin's.
import { ACTIVATIONS, Rng, type Backend } from '../src/index.js';
import { CONV_WEIGHT_SCRATCH_BYTES, convScratchBytes } from '../src/backend/kernels.js';
import { AGREEMENT, type PreparedGemm } from './gemm.js';

export type ConvKernel = 'conv2d_forward' | 'conv2d_input_grad' | 'conv2d_weight_grad';
export const CONV_KERNELS: readonly ConvKernel[] = ['conv2d_forward', 'conv2d_input_grad', 'conv2d_weight_grad'];

/** What each kernel computes, for the table. */
export const CONV_PRODUCTS: Record<ConvKernel, string> = {
  conv2d_forward: 'im2col(x)·W',
  conv2d_input_grad: 'dZ·Wᵀ',
  conv2d_weight_grad: 'im2col(x)ᵀ·dZ',
};

/** One convolution layer's geometry: stride 1, `padding` zeros on each side. */
export interface ConvCase {
  batch: number;
  height: number;
  width: number;
  inChannels: number;
  outChannels: number;
  kernel: number;
  padding: number;
}

/**
 * The small VGG's second and fourth convolutions at its batch of 32 (bench/training.ts): the 3×3
 * layers with ≥ 32 channels that its step spends most of its products in.
 */
export const CONV_CASES: readonly ConvCase[] = [
  { batch: 32, height: 32, width: 32, inChannels: 32, outChannels: 32, kernel: 3, padding: 1 },
  { batch: 32, height: 16, width: 16, inChannels: 64, outChannels: 64, kernel: 3, padding: 1 },
];

/** Small enough for the js twin to run at once: the agreement check's geometry. */
const AGREEMENT_CASE: ConvCase = { batch: 2, height: 9, width: 7, inChannels: 32, outChannels: 36, kernel: 3, padding: 1 };

/** The row's name, e.g. "conv2d_forward im2col(x)·W 3×3 32→32 on 32×32 b32". */
export function convWorkload(kernel: ConvKernel, c: ConvCase): string {
  return `${kernel} ${CONV_PRODUCTS[kernel]} ${c.kernel}×${c.kernel} ${c.inChannels}→${c.outChannels} on ${c.height}×${c.width} b${c.batch}`;
}

function outputSize(size: number, c: ConvCase): number {
  return size + 2 * c.padding - c.kernel + 1;
}

/**
 * FLOPs of one call of any of the three: batch · output positions · kernel² · in · out multiply-adds,
 * 2 FLOPs each — the forward's count, which the training rows count for each of the three products
 * (the bias, the relu and the "+=" add are not counted).
 */
export function convFlops(c: ConvCase): number {
  return 2 * c.batch * outputSize(c.height, c) * outputSize(c.width, c) * c.kernel * c.kernel * c.inChannels * c.outChannels;
}

/**
 * One kernel of one case in a backend's heap, from seeded values uniform in [−1, 1). Outputs the
 * kernel writes start as NaN, so an element it skips fails the agreement check; the weight gradient
 * is written (accumulate 0), as a step's first backward writes it.
 */
export function prepareConv(backend: Backend, kernel: ConvKernel, c: ConvCase, seed = 0xc0de): PreparedGemm {
  const outH = outputSize(c.height, c);
  const outW = outputSize(c.width, c);
  const inputFloats = c.batch * c.height * c.width * c.inChannels;
  const outputFloats = c.batch * outH * outW * c.outChannels;
  const weightFloats = c.kernel * c.kernel * c.inChannels * c.outChannels;
  const K = c.kernel * c.kernel * c.inChannels;
  const scratchBytes = Math.max(convScratchBytes(K), convScratchBytes(c.kernel * c.kernel * c.outChannels), CONV_WEIGHT_SCRATCH_BYTES);
  const heap = backend.heap;
  // x, w, bias, dz; then the output: z (forward), dx (input gradient) or dw (weight gradient).
  const outFloats = kernel === 'conv2d_forward' ? outputFloats : kernel === 'conv2d_input_grad' ? inputFloats : weightFloats;
  const sizes = [inputFloats, weightFloats, c.outChannels, outputFloats, outFloats];
  const [x, w, bias, dz, out, scratch] = [...sizes.map((floats) => 4 * floats), scratchBytes].map((bytes) => heap.alloc(bytes));
  // Views are taken after every alloc: growing the memory replaces its buffer.
  const f32 = heap.f32;
  const rng = new Rng(seed);
  for (const [offset, floats] of [[x, inputFloats], [w, weightFloats], [bias, c.outChannels], [dz, outputFloats]]) {
    for (let i = 0; i < floats; i++) f32[(offset >> 2) + i] = 2 * rng.uniform() - 1;
  }
  f32.fill(NaN, out >> 2, (out >> 2) + outFloats);
  const k = backend.kernels;
  const g = [c.batch, c.height, c.width, c.inChannels, c.outChannels, c.kernel, c.kernel, 1, 1, c.padding, c.padding, 1, 1] as const;
  // The gradients take the group count (one) after the channels.
  const gradients = [c.batch, c.height, c.width, c.inChannels, c.outChannels, 1, c.kernel, c.kernel, 1, 1, c.padding, c.padding, 1, 1] as const;
  const relu = ACTIVATIONS.indexOf('relu');
  const call = kernel === 'conv2d_forward' ? () => k.conv2d_forward(out, out, x, w, bias, ...g, relu, 0, scratch)
    : kernel === 'conv2d_input_grad' ? () => k.conv2d_input_grad(out, dz, w, ...gradients, 0, scratch)
    : () => k.conv2d_weight_grad(out, x, dz, ...gradients, 0, K, 0, scratch);
  return {
    call,
    output: () => heap.f32.slice(out >> 2, (out >> 2) + outFloats),
    dispose: () => {
      for (const offset of [x, w, bias, dz, out, scratch]) heap.free(offset);
    },
  };
}

/**
 * Runs the three kernels on a small case on `backend` and on the js twin from the same values; throws
 * unless max|backend − js| / max|js| < AGREEMENT for each. Returns the worst ratio.
 */
export function checkConvAgreement(backend: Backend, js: Backend): number {
  let worst = 0;
  for (const kernel of CONV_KERNELS) {
    const [expected, actual] = [js, backend].map((b) => {
      const prepared = prepareConv(b, kernel, AGREEMENT_CASE);
      prepared.call();
      const output = prepared.output();
      prepared.dispose();
      return output;
    });
    let largestValue = 0;
    let largestDiff = 0;
    for (let i = 0; i < expected.length; i++) {
      largestValue = Math.max(largestValue, Math.abs(expected[i]));
      // Math.max keeps a NaN (an unwritten element), and the test below fails on it.
      largestDiff = Math.max(largestDiff, Math.abs(actual[i] - expected[i]));
    }
    const relative = largestDiff / largestValue;
    if (!(relative < AGREEMENT)) {
      throw new Error(`${convWorkload(kernel, AGREEMENT_CASE)}: ${backend.name} disagrees with simdprop's js twin (max|x − js| / max|js| = ` +
        `${relative}, limit ${AGREEMENT}): refusing to benchmark a wrong product`);
    }
    worst = Math.max(worst, relative);
  }
  return worst;
}

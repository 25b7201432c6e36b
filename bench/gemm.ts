// GEMM workloads: the three products of a dense layer on square n×n row-major float32 matrices
// (M = K = N = n), prepared for each backend from the same seeded values, and a check that every
// backend agrees with simdprop's js twin before anything is timed.
import { Rng, type Backend } from '../src/index.js';
import { gemmScratchBytes } from '../src/backend/kernels.js';
import { inputGrad, linearForward, weightGrad } from './baselines/plain.js';

export type GemmKernel = 'gemm_nn' | 'gemm_nt' | 'gemm_tn';
export const GEMM_KERNELS: readonly GemmKernel[] = ['gemm_nn', 'gemm_nt', 'gemm_tn'];

/** What each kernel computes, for the table: nn is the forward product, nt and tn the backward ones. */
export const GEMM_PRODUCTS: Record<GemmKernel, string> = {
  gemm_nn: 'X·W',
  gemm_nt: 'dZ·Wᵀ',
  gemm_tn: 'Xᵀ·dZ',
};

/** Largest accepted max|backend − js twin| / max|js twin| over one kernel's output. */
export const AGREEMENT = 1e-4;

/** The inputs of one size: a, b, a bias row, and the starting output of the accumulating gemm_tn. */
export interface GemmValues {
  n: number;
  a: Float32Array;
  b: Float32Array;
  bias: Float32Array;
  start: Float32Array;
}

/** The same seeded values for every backend: uniform in [−1, 1). */
export function gemmValues(n: number, seed: number): GemmValues {
  const rng = new Rng(seed);
  const uniform = (length: number): Float32Array => {
    const values = new Float32Array(length);
    for (let i = 0; i < length; i++) values[i] = 2 * rng.uniform() - 1;
    return values;
  };
  return { n, a: uniform(n * n), b: uniform(n * n), bias: uniform(n), start: uniform(n * n) };
}

/** One kernel at one size on one backend, operands in place. */
export interface PreparedGemm {
  /** The call that is timed: one product and nothing else. */
  call(): void;
  /** The output as the kernel's contract defines it (gemm_tn: start + aᵀ·b after one call). */
  output(): Float32Array;
  dispose(): void;
}

/**
 * simdprop's kernels in a backend's heap. nn and nt outputs start as NaN, so an element a kernel
 * leaves unwritten fails the agreement check; tn's starts from `start`, since it accumulates.
 */
export function prepareSimdprop(backend: Backend, kernel: GemmKernel, values: GemmValues): PreparedGemm {
  const { n } = values;
  const heap = backend.heap;
  const [a, b, bias, out, scratch] = [4 * n * n, 4 * n * n, 4 * n, 4 * n * n, gemmScratchBytes(n, n)].map((bytes) => heap.alloc(bytes));
  // Views are taken after every alloc: growing the memory replaces its buffer.
  const f32 = heap.f32;
  f32.set(values.a, a >> 2);
  f32.set(values.b, b >> 2);
  f32.set(values.bias, bias >> 2);
  if (kernel === 'gemm_tn') f32.set(values.start, out >> 2);
  else f32.fill(NaN, out >> 2, (out >> 2) + n * n);
  const kernels = backend.kernels;
  const call = kernel === 'gemm_nn' ? () => kernels.gemm_nn(out, a, b, bias, n, n, n, scratch)
    : kernel === 'gemm_nt' ? () => kernels.gemm_nt(out, a, b, n, n, n, 0, scratch)
    : () => kernels.gemm_tn(out, a, b, n, n, n, n, 1, scratch);
  return {
    call,
    output: () => heap.f32.slice(out >> 2, (out >> 2) + n * n),
    dispose: () => {
      for (const offset of [a, b, bias, out, scratch]) heap.free(offset);
    },
  };
}

/** The plain JS baseline's three products on Float32Arrays of its own. */
export function preparePlain(kernel: GemmKernel, values: GemmValues): PreparedGemm {
  const { n, a, b, bias } = values;
  const out = kernel === 'gemm_tn' ? values.start.slice() : new Float32Array(n * n).fill(NaN);
  const call = kernel === 'gemm_nn' ? () => linearForward(out, a, b, bias, n, n, n)
    : kernel === 'gemm_nt' ? () => inputGrad(out, a, b, n, n, n)
    : () => weightGrad(out, a, b, n, n, n);
  return { call, output: () => out.slice(), dispose: () => {} };
}

/**
 * Runs every kernel at size n on one backend and throws unless it agrees with simdprop's js twin
 * (`reference`). Returns the worst max|backend − js| / max|js| over the three kernels.
 */
export function checkAgreement(
  n: number,
  reference: (kernel: GemmKernel, values: GemmValues) => PreparedGemm,
  name: string,
  prepare: (kernel: GemmKernel, values: GemmValues) => PreparedGemm,
): number {
  const values = gemmValues(n, 0x5eed);
  let worst = 0;
  for (const kernel of GEMM_KERNELS) {
    const expected = runOnce(reference(kernel, values));
    const actual = runOnce(prepare(kernel, values));
    let largestValue = 0;
    let largestDiff = 0;
    for (let i = 0; i < n * n; i++) {
      largestValue = Math.max(largestValue, Math.abs(expected[i]));
      // Math.max keeps a NaN (an unwritten element), and the test below fails on it.
      largestDiff = Math.max(largestDiff, Math.abs(actual[i] - expected[i]));
    }
    const relative = largestDiff / largestValue;
    if (!(relative < AGREEMENT)) {
      throw new Error(`${kernel} at n=${n}: ${name} disagrees with simdprop's js twin (max|${name} − js| / max|js| = ` +
        `${relative}, limit ${AGREEMENT}): refusing to benchmark a wrong product`);
    }
    worst = Math.max(worst, relative);
  }
  return worst;
}

function runOnce(prepared: PreparedGemm): Float32Array {
  prepared.call();
  const output = prepared.output();
  prepared.dispose();
  return output;
}

/** FLOPs of one n×n×n product: n³ multiplies and n³ adds (the bias and the "+=" add are not counted). */
export function gemmFlops(n: number): number {
  return 2 * n * n * n;
}

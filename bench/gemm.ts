// GEMM workloads: the three kernels of the contract called directly on square n×n row-major float32
// matrices in each backend's heap (M = K = N = n), and a check that both backends agree before timing.
import { gemmScratchBytes } from '../src/backend/kernels.js';
import { Rng, type Backend, type Kernels } from '../src/index.js';
import { timeCall, type Budget, type Timing } from './measure.js';

export type GemmKernel = 'gemm_nn' | 'gemm_nt' | 'gemm_tn';
export const GEMM_KERNELS: readonly GemmKernel[] = ['gemm_nn', 'gemm_nt', 'gemm_tn'];

/** Largest accepted max|wasm − js| / max|js| over one kernel's output. */
export const AGREEMENT = 1e-4;

/** The operands of one size in one heap: byte offsets. */
interface Operands {
  a: number;
  b: number;
  bias: number;
  out: number;
  scratch: number;
}

/** The same seeded values for every backend: uniform in [−1, 1). */
function operandValues(n: number, seed: number): { a: Float32Array; b: Float32Array; bias: Float32Array } {
  const rng = new Rng(seed);
  const uniform = (length: number): Float32Array => {
    const values = new Float32Array(length);
    for (let i = 0; i < length; i++) values[i] = 2 * rng.uniform() - 1;
    return values;
  };
  return { a: uniform(n * n), b: uniform(n * n), bias: uniform(n) };
}

function allocOperands(backend: Backend, n: number, seed: number): Operands {
  const heap = backend.heap;
  const operands = {
    a: heap.alloc(4 * n * n), b: heap.alloc(4 * n * n), bias: heap.alloc(4 * n), out: heap.alloc(4 * n * n),
    scratch: heap.alloc(gemmScratchBytes(n)),
  };
  // Views are taken after every alloc: growing the memory replaces its buffer.
  const values = operandValues(n, seed);
  const f32 = heap.f32;
  f32.set(values.a, operands.a >> 2);
  f32.set(values.b, operands.b >> 2);
  f32.set(values.bias, operands.bias >> 2);
  f32.fill(0, operands.out >> 2, (operands.out >> 2) + n * n);
  return operands;
}

function freeOperands(backend: Backend, operands: Operands): void {
  for (const offset of [operands.a, operands.b, operands.bias, operands.out, operands.scratch]) backend.heap.free(offset);
}

/** The call benchmark.js times: one kernel call, nothing else. */
function kernelCall(kernels: Kernels, kernel: GemmKernel, operands: Operands, n: number): () => void {
  const { a, b, bias, out, scratch } = operands;
  if (kernel === 'gemm_nn') return () => kernels.gemm_nn(out, a, b, bias, n, n, n, scratch);
  if (kernel === 'gemm_nt') return () => kernels.gemm_nt(out, a, b, n, n, n, scratch);
  return () => kernels.gemm_tn(out, a, b, n, n, n, n, scratch);
}

/**
 * Runs every kernel at size n on both backends from the same inputs and throws unless the outputs
 * agree. "=" outputs start as NaN so an element a kernel leaves unwritten fails; gemm_tn's output
 * starts from the same seeded values on both sides, since it accumulates. Returns the worst ratio.
 */
export function checkAgreement(wasm: Backend, js: Backend, n: number): number {
  const seed = 0x5eed;
  const start = operandValues(n, seed + 1).a;
  const sides = [wasm, js].map((backend) => ({ backend, operands: allocOperands(backend, n, seed) }));
  let worst = 0;
  for (const kernel of GEMM_KERNELS) {
    const outputs = sides.map(({ backend, operands }) => {
      const index = operands.out >> 2;
      if (kernel === 'gemm_tn') backend.heap.f32.set(start, index);
      else backend.heap.f32.fill(NaN, index, index + n * n);
      kernelCall(backend.kernels, kernel, operands, n)();
      return backend.heap.f32.slice(index, index + n * n);
    });
    const [fromWasm, fromJs] = outputs;
    let largestDiff = 0;
    let largestValue = 0;
    for (let i = 0; i < n * n; i++) {
      // Math.max keeps a NaN (an unwritten element), and the test below fails on it.
      largestDiff = Math.max(largestDiff, Math.abs(fromWasm[i] - fromJs[i]));
      largestValue = Math.max(largestValue, Math.abs(fromJs[i]));
    }
    const relative = largestDiff / largestValue;
    if (!(relative < AGREEMENT)) {
      throw new Error(`${kernel} at n=${n}: wasm and js disagree (max|wasm − js| / max|js| = ${relative}, ` +
        `limit ${AGREEMENT}): refusing to benchmark a wrong kernel`);
    }
    worst = Math.max(worst, relative);
  }
  for (const { backend, operands } of sides) freeOperands(backend, operands);
  return worst;
}

/** Times one kernel at size n on one backend; also returns out[0] so the caller consumes the result. */
export function timeGemm(backend: Backend, kernel: GemmKernel, n: number, budget: Budget): { timing: Timing; checksum: number } {
  const operands = allocOperands(backend, n, 0x6e6d + n);
  const timing = timeCall(`${kernel} n=${n} ${backend.name}`, kernelCall(backend.kernels, kernel, operands, n), budget);
  const checksum = backend.heap.f32[operands.out >> 2];
  freeOperands(backend, operands);
  return { timing, checksum };
}

/** FLOPs of one n×n×n product: n³ multiplies and n³ adds (bias and the "+=" add are not counted). */
export function gemmFlops(n: number): number {
  return 2 * n * n * n;
}

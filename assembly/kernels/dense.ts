// A dense layer's forward pass in one call: z = x·w (+ bias), then a = f(z), 128 rows at a time, so
// each block's activation runs on sums still in cache and the step needs one call (one tape record)
// per layer instead of two. The product is gemm_nn's and the activation is its own kernel's, so the
// results are bit-identical to calling the two.

import { gemm_nn } from './gemm';
import { relu_forward } from './relu';
import { leaky_relu_forward } from './leaky_relu';
import { sigmoid_forward } from './sigmoid';
import { tanh_forward } from './tanh';
import { gelu_forward } from './gelu';
import { softmax_forward } from './softmax';
import { GELU, LEAKY_RELU, LINEAR, RELU, SIGMOID, SOFTMAX, TANH } from '../generated/activations';

// Rows per block: gemm_nn packs its left operand 128 rows at a time too.
const BLOCK_ROWS: i32 = 128;

/**
 * A dense layer's forward pass: z[M×N] = x[M×K]·w[K×N] (+ bias[N] when bias ≠ 0), then a = f(z) for the
 * activation whose place in ACTIVATIONS (src/activations.ts) is `activation` (0 linear: a is not
 * written; a may be z for the others, as the layer keeps them when z is not needed again). `slope` is
 * leakyRelu's. Scratch as gemm_nn's. Bit-identical to gemm_nn then the activation's kernel.  "="
 */
export function dense_forward(
  z: usize, a: usize, x: usize, w: usize, bias: usize, M: i32, K: i32, N: i32, activation: i32, slope: f32, scratch: usize,
): void {
  const zRowBytes = <usize>N << 2;
  const xRowBytes = <usize>K << 2;
  for (let first = 0; first < M; first += BLOCK_ROWS) {
    const rows = min(BLOCK_ROWS, M - first);
    const zb = z + <usize>first * zRowBytes;
    const ab = a + <usize>first * zRowBytes;
    gemm_nn(zb, x + <usize>first * xRowBytes, w, bias, rows, K, N, scratch);
    activate(activation, ab, zb, rows, N, slope);
  }
}

/** a = f(z) over rows × N values for the activation at place `activation` of ACTIVATIONS (0 linear: nothing). */
@inline export function activate(activation: i32, a: usize, z: usize, rows: i32, N: i32, slope: f32): void {
  const n = rows * N;
  if (activation == RELU) relu_forward(a, z, n);
  else if (activation == LEAKY_RELU) leaky_relu_forward(a, z, n, slope);
  else if (activation == SIGMOID) sigmoid_forward(a, z, n);
  else if (activation == TANH) tanh_forward(a, z, n);
  else if (activation == GELU) gelu_forward(a, z, n);
  else if (activation == SOFTMAX) softmax_forward(a, z, rows, N);
  else if (activation != LINEAR) unreachable();
}

// Twin of assembly/kernels/dense.ts: gemm_nn, then the activation's twin.
import type { Floats } from './floats.js';
import { gemm_nn } from './gemm.js';
import { gelu_forward } from './gelu.js';
import { leaky_relu_forward } from './leaky_relu.js';
import { relu_forward } from './relu.js';
import { sigmoid_forward } from './sigmoid.js';
import { softmax_forward } from './softmax.js';
import { tanh_forward } from './tanh.js';

/** z = x·w (+ bias when bias ≥ 0), then a = f(z) for the activation at place `activation` of ACTIVATIONS. */
export function dense_forward(
  m: Floats, z: number, a: number, x: number, w: number, bias: number, M: number, K: number, N: number,
  activation: number, slope: number,
): void {
  gemm_nn(m, z, x, w, bias, M, K, N);
  activate(m, activation, a, z, M, N, slope);
}

/** a = f(z) over rows × N values for the activation at place `activation` of ACTIVATIONS (0 linear: nothing). */
export function activate(m: Floats, activation: number, a: number, z: number, rows: number, N: number, slope: number): void {
  const n = rows * N;
  switch (activation) {
    case 0: return;
    case 1: return relu_forward(m, a, z, n);
    case 2: return leaky_relu_forward(m, a, z, n, slope);
    case 3: return sigmoid_forward(m, a, z, n);
    case 4: return tanh_forward(m, a, z, n);
    case 5: return gelu_forward(m, a, z, n);
    case 6: return softmax_forward(m, a, z, rows, N);
    default: throw new RangeError(`simdprop: no activation number ${activation}`);
  }
}

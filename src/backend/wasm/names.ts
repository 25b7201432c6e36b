// The kernels a wasm build exports, in a fixed order: the workers' call numbers and the tape's
// opcodes (assembly/kernels/tape.ts) are places in this list, from 1.
import type { KernelName } from '../kernels.js';

export const KERNEL_NAMES: readonly KernelName[] = [
  'gemm_nn', 'gemm_nt', 'gemm_tn',
  'relu_forward', 'relu_backward', 'leaky_relu_forward', 'leaky_relu_backward',
  'sigmoid_forward', 'sigmoid_backward', 'tanh_forward', 'tanh_backward',
  'gelu_forward', 'gelu_backward', 'softmax_forward', 'softmax_backward',
  'softmax_cross_entropy_labels', 'softmax_cross_entropy_targets',
  'bce', 'bce_with_logits', 'mse', 'huber',
  'bias_grad', 'sum_squares', 'count_nonfinite',
  'fill', 'scale', 'axpy', 'copy', 'mul', 'clamp', 'dropout_mask', 'sgd_update', 'adam_update', 'rmsprop_update',
  'count_outside', 'dense_forward',
];

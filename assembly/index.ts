// simdprop's kernels: the module's exports, one file per op under kernels/. Memory is imported.
export { gemm_nn, gemm_nt, gemm_tn } from './kernels/gemm';
export { relu_forward, relu_backward } from './kernels/relu';
export { leaky_relu_forward, leaky_relu_backward } from './kernels/leaky_relu';
export { sigmoid_forward, sigmoid_backward } from './kernels/sigmoid';
export { tanh_forward, tanh_backward } from './kernels/tanh';
export { gelu_forward, gelu_backward } from './kernels/gelu';
export { softmax_forward, softmax_backward } from './kernels/softmax';
export { softmax_cross_entropy_labels, softmax_cross_entropy_targets } from './kernels/softmax_cross_entropy';
export { bce, bce_with_logits } from './kernels/bce';
export { mse } from './kernels/mse';
export { huber } from './kernels/huber';
export { bias_grad, sum_squares, count_nonfinite, count_outside } from './kernels/reduce';
export { fill, scale, axpy, copy, clamp } from './kernels/elementwise';
export { sgd_update } from './kernels/sgd';
export { adam_update } from './kernels/adam';
export { rmsprop_update } from './kernels/rmsprop';
// 1 in the relaxed-SIMD build (fused multiply-add in the GEMMs), 0 in the baseline SIMD build.
export const relaxed_simd: i32 = ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
export { dropout_mask, mul } from './kernels/dropout';
export { run_tape } from './kernels/tape';
export { dense_forward } from './kernels/dense';

// The twins bound to the kernel contract: byte offsets in, element indices of a float array out.
// The arrays are fetched on every call, since growing a memory replaces its views. The JS backend
// binds its heap's float32 view; the gradient check binds a float64 copy of a model's block.
import type { Kernels } from '../kernels.js';
import type { Floats } from './floats.js';
import { adam_update } from './adam.js';
import { bce, bce_with_logits } from './bce.js';
import { axpy, clamp, copy, fill, scale } from './elementwise.js';
import { dense_forward } from './dense.js';
import { dropout_mask, mul } from './dropout.js';
import { gelu_backward, gelu_forward } from './gelu.js';
import { gemm_nn, gemm_nt, gemm_tn } from './gemm.js';
import { huber } from './huber.js';
import { leaky_relu_backward, leaky_relu_forward } from './leaky_relu.js';
import { mse } from './mse.js';
import { bias_grad, count_nonfinite, count_outside, sum_squares } from './reduce.js';
import { relu_backward, relu_forward } from './relu.js';
import { rmsprop_update } from './rmsprop.js';
import { sgd_update } from './sgd.js';
import { sigmoid_backward, sigmoid_forward } from './sigmoid.js';
import { softmax_backward, softmax_forward } from './softmax.js';
import { softmax_cross_entropy_labels, softmax_cross_entropy_targets } from './softmax_cross_entropy.js';
import { tanh_backward, tanh_forward } from './tanh.js';

/** Element index of a 4-byte element; >>> keeps offsets of 2 GiB and above positive. */
function at(byteOffset: number): number {
  return byteOffset >>> 2;
}

/** Element index of an optional buffer: byte offset 0 (none) becomes −1. */
function atOptional(byteOffset: number): number {
  return byteOffset === 0 ? -1 : byteOffset >>> 2;
}

/** Kernels over `floats()` (4 bytes per element of the byte-offset space) and `ints()` for labels. */
export function bindTwins(floats: () => Floats, ints: () => Int32Array): Kernels {
  return {
    gemm_nn: (out, x, w, bias, M, K, N, _scratch) => gemm_nn(floats(), at(out), at(x), at(w), atOptional(bias), M, K, N),
    gemm_nt: (out, a, b, M, K, N, _scratch) => gemm_nt(floats(), at(out), at(a), at(b), M, K, N),
    gemm_tn: (out, a, b, M, K, N, lda, accumulate, _scratch) => gemm_tn(floats(), at(out), at(a), at(b), M, K, N, lda, accumulate),
    dense_forward: (z, a, x, w, bias, M, K, N, activation, slope, _scratch) =>
      dense_forward(floats(), at(z), at(a), at(x), at(w), atOptional(bias), M, K, N, activation, slope),

    relu_forward: (out, z, n) => relu_forward(floats(), at(out), at(z), n),
    relu_backward: (dz, da, a, n) => relu_backward(floats(), at(dz), at(da), at(a), n),
    leaky_relu_forward: (out, z, n, slope) => leaky_relu_forward(floats(), at(out), at(z), n, slope),
    leaky_relu_backward: (dz, da, z, n, slope) => leaky_relu_backward(floats(), at(dz), at(da), at(z), n, slope),
    sigmoid_forward: (out, z, n) => sigmoid_forward(floats(), at(out), at(z), n),
    sigmoid_backward: (dz, da, a, n) => sigmoid_backward(floats(), at(dz), at(da), at(a), n),
    tanh_forward: (out, z, n) => tanh_forward(floats(), at(out), at(z), n),
    tanh_backward: (dz, da, a, n) => tanh_backward(floats(), at(dz), at(da), at(a), n),
    gelu_forward: (out, z, n) => gelu_forward(floats(), at(out), at(z), n),
    gelu_backward: (dz, da, z, n) => gelu_backward(floats(), at(dz), at(da), at(z), n),
    softmax_forward: (out, z, rows, cols) => softmax_forward(floats(), at(out), at(z), rows, cols),
    softmax_backward: (dz, da, a, rows, cols) => softmax_backward(floats(), at(dz), at(da), at(a), rows, cols),

    softmax_cross_entropy_labels: (grad, logits, labels, rows, cols) =>
      softmax_cross_entropy_labels(floats(), at(grad), at(logits), ints(), at(labels), rows, cols),
    softmax_cross_entropy_targets: (grad, logits, targets, rows, cols) =>
      softmax_cross_entropy_targets(floats(), at(grad), at(logits), at(targets), rows, cols),
    bce: (grad, probs, targets, n) => bce(floats(), at(grad), at(probs), at(targets), n),
    bce_with_logits: (grad, logits, targets, n) => bce_with_logits(floats(), at(grad), at(logits), at(targets), n),
    mse: (grad, pred, targets, n) => mse(floats(), at(grad), at(pred), at(targets), n),
    huber: (grad, pred, targets, n, delta) => huber(floats(), at(grad), at(pred), at(targets), n, delta),

    bias_grad: (db, dz, rows, cols, accumulate) => bias_grad(floats(), at(db), at(dz), rows, cols, accumulate),
    sum_squares: (x, n) => sum_squares(floats(), at(x), n),
    count_nonfinite: (x, n) => count_nonfinite(floats(), at(x), n),
    count_outside: (x, n, low, high) => count_outside(floats(), at(x), n, Math.fround(low), Math.fround(high)),

    fill: (x, n, value) => fill(floats(), at(x), n, value),
    scale: (x, n, s) => scale(floats(), at(x), n, s),
    axpy: (y, x, n, a) => axpy(floats(), at(y), at(x), n, a),
    copy: (dst, src, n) => copy(floats(), at(dst), at(src), n),
    mul: (out, a, b, n) => mul(floats(), at(out), at(a), at(b), n),
    clamp: (x, n, low, high) => clamp(floats(), at(x), n, low, high),
    dropout_mask: (mask, n, rate, seed, stream) => dropout_mask(floats(), at(mask), n, rate, seed, stream),

    sgd_update: (params, grads, velocity, n, lr, momentum, dampening, nesterov, weightDecay, firstStep) =>
      sgd_update(floats(), at(params), at(grads), atOptional(velocity), n,
        lr, momentum, dampening, nesterov, weightDecay, firstStep),
    adam_update: (params, grads, expAvg, expAvgSq, n, lr, beta1, beta2, eps, weightDecay, decoupled, step) =>
      adam_update(floats(), at(params), at(grads), at(expAvg), at(expAvgSq), n,
        lr, beta1, beta2, eps, weightDecay, decoupled, step),
    rmsprop_update: (params, grads, squareAvg, gradAvg, momentumBuffer, n, lr, alpha, eps, weightDecay, momentum, centered) =>
      rmsprop_update(floats(), at(params), at(grads), at(squareAvg), atOptional(gradAvg), atOptional(momentumBuffer), n,
        lr, alpha, eps, weightDecay, momentum, centered),
  };
}

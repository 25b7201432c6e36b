// Kernels that split large GEMMs (by rows of the output), convolutions (by images of the batch, and
// the weight gradient by rows of the weight, or a depthwise one's by channels), attention (by its
// (sample, head) items) and the optimizer update (by ranges of the parameter
// block) across a pool of workers; the main thread takes the last share. Every output
// element is computed by the same kernel code in the same order whatever the split, so results are
// bit-identical for any thread count. Small products stay on one thread: waking workers costs more.
import type { Kernels, KernelName } from '../backend/kernels.js';
import { outputSize } from '../backend/js/conv.js';
import { attentionScratchBytes, CONV_WEIGHT_SCRATCH_BYTES, convScratchBytes, gemmScratchBytes } from '../backend/kernels.js';
import type { Heap } from '../memory/heap.js';
import type { ThreadPool } from './pool.js';

/** Below this many multiply-adds a GEMM runs on one thread (~1 MFLOP, some 30 µs). */
export const MIN_SPLIT_MACS = 1 << 19;
/** Below this many parameters an optimizer update runs on one thread. */
export const MIN_SPLIT_PARAMS = 1 << 16;

export function threadedKernels(single: Kernels, pool: ThreadPool, heap: Heap, kernelNames: readonly KernelName[]): Kernels {
  const threads = pool.size + 1;
  const number = (name: KernelName): number => kernelNames.indexOf(name) + 1;
  const [NT, TN, SGD] = [number('gemm_nt'), number('gemm_tn'), number('sgd_update')];
  const DENSE = number('dense_forward');
  const [CONV, CONV_INPUT, CONV_WEIGHT] = [number('conv2d_forward'), number('conv2d_input_grad'), number('conv2d_weight_grad')];
  const [DEPTHWISE, DEPTHWISE_INPUT, DEPTHWISE_WEIGHT] =
    [number('depthwise_conv2d_forward'), number('depthwise_conv2d_input_grad'), number('depthwise_conv2d_weight_grad')];
  const [ADAM, RMSPROP] = [number('adam_update'), number('rmsprop_update')];
  const [ATTENTION, ATTENTION_BACKWARD] = [number('attention_forward'), number('attention_backward')];
  // Each worker packs its own panels: one scratch block per worker, grown when a larger K comes.
  const scratch: number[] = [];
  let scratchBytes = 0;
  const workerScratch = (needed: number): void => {
    if (needed <= scratchBytes) return;
    for (let worker = 0; worker < pool.size; worker++) {
      if (scratch[worker] !== undefined) heap.free(scratch[worker]);
      scratch[worker] = heap.alloc(needed);
    }
    scratchBytes = needed;
  };
  // A closed pool (the backend was replaced) leaves its models running on the calling thread alone.
  const alone = (work: number): boolean => work < 0 || pool.closed;
  // Rows per share: a multiple of 4 (the micro-kernel's height), so shares split no row block.
  const shareOf = (rows: number): number => Math.ceil(rows / threads / 4) * 4;
  // Elements per share of an optimizer update: a multiple of 16, so every share keeps the range's 64-byte alignment.
  const rangeOf = (n: number): number => Math.ceil(n / threads / 16) * 16;
  // An optional buffer (0: none) advanced by `bytes`.
  const shifted = (pointer: number, bytes: number): number => (pointer === 0 ? 0 : pointer + bytes);

  // A dense layer's forward pass split by rows of its output, the main thread taking the last share.
  const splitDense = (
    z: number, a: number, x: number, w: number, bias: number, M: number, K: number, N: number,
    activation: number, slope: number, mainScratch: number,
  ): void => {
    workerScratch(gemmScratchBytes(K));
    const share = shareOf(M);
    let row = 0;
    for (let worker = 0; row + share < M && worker < pool.size; worker++, row += share) {
      pool.assign(worker, DENSE, z + row * N * 4, a + row * N * 4, x + row * K * 4, w, bias, share, K, N, activation, slope, scratch[worker]);
    }
    pool.begin();
    try {
      single.dense_forward(z + row * N * 4, a + row * N * 4, x + row * K * 4, w, bias, M - row, K, N, activation, slope, mainScratch);
    } finally {
      pool.finish();
    }
  };

  // Whole units per share: images of a convolution's batch, (sample, head) items of an attention.
  const unitsOf = (count: number): number => Math.ceil(count / threads);

  return {
    ...single,
    conv2d_forward(z, a, x, w, bias, batch, H, W, C, N, kH, kW, sH, sW, pH, pW, dH, dW, activation, slope, mainScratch) {
      const K = kH * kW * C;
      const outFloats = outputSize(H, kH, sH, pH, dH) * outputSize(W, kW, sW, pW, dW) * N;
      if (alone(batch * outFloats * K - MIN_SPLIT_MACS) || batch < 2) {
        return single.conv2d_forward(z, a, x, w, bias, batch, H, W, C, N, kH, kW, sH, sW, pH, pW, dH, dW, activation, slope, mainScratch);
      }
      workerScratch(convScratchBytes(K));
      const share = unitsOf(batch);
      const outBytes = outFloats * 4;
      const inBytes = H * W * C * 4;
      let image = 0;
      for (let worker = 0; image + share < batch && worker < pool.size; worker++, image += share) {
        pool.assign(worker, CONV, z + image * outBytes, a + image * outBytes, x + image * inBytes, w, bias, share,
          H, W, C, N, kH, kW, sH, sW, pH, pW, dH, dW, activation, slope, scratch[worker]);
      }
      pool.begin();
      try {
        single.conv2d_forward(z + image * outBytes, a + image * outBytes, x + image * inBytes, w, bias, batch - image,
          H, W, C, N, kH, kW, sH, sW, pH, pW, dH, dW, activation, slope, mainScratch);
      } finally {
        pool.finish();
      }
    },
    conv2d_input_grad(dx, dz, w, batch, H, W, C, N, groups, kH, kW, sH, sW, pH, pW, dH, dW, accumulate, mainScratch) {
      const K = kH * kW * N / groups;
      const outFloats = outputSize(H, kH, sH, pH, dH) * outputSize(W, kW, sW, pW, dW) * N;
      if (alone(batch * H * W * C * K - MIN_SPLIT_MACS) || batch < 2) {
        return single.conv2d_input_grad(dx, dz, w, batch, H, W, C, N, groups, kH, kW, sH, sW, pH, pW, dH, dW, accumulate, mainScratch);
      }
      workerScratch(convScratchBytes(K));
      const share = unitsOf(batch);
      const outBytes = outFloats * 4;
      const inBytes = H * W * C * 4;
      let image = 0;
      for (let worker = 0; image + share < batch && worker < pool.size; worker++, image += share) {
        pool.assign(worker, CONV_INPUT, dx + image * inBytes, dz + image * outBytes, w, share,
          H, W, C, N, groups, kH, kW, sH, sW, pH, pW, dH, dW, accumulate, scratch[worker]);
      }
      pool.begin();
      try {
        single.conv2d_input_grad(dx + image * inBytes, dz + image * outBytes, w, batch - image,
          H, W, C, N, groups, kH, kW, sH, sW, pH, pW, dH, dW, accumulate, mainScratch);
      } finally {
        pool.finish();
      }
    },
    depthwise_conv2d_forward(z, a, x, w, bias, batch, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, activation, slope) {
      const outFloats = outputSize(H, kH, sH, pH, dH) * outputSize(W, kW, sW, pW, dW) * C;
      if (alone(batch * outFloats * kH * kW - MIN_SPLIT_MACS) || batch < 2) {
        return single.depthwise_conv2d_forward(z, a, x, w, bias, batch, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, activation, slope);
      }
      const share = unitsOf(batch);
      const outBytes = outFloats * 4;
      const inBytes = H * W * C * 4;
      let image = 0;
      for (let worker = 0; image + share < batch && worker < pool.size; worker++, image += share) {
        pool.assign(worker, DEPTHWISE, z + image * outBytes, a + image * outBytes, x + image * inBytes, w, bias, share,
          H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, activation, slope);
      }
      pool.begin();
      try {
        single.depthwise_conv2d_forward(z + image * outBytes, a + image * outBytes, x + image * inBytes, w, bias, batch - image,
          H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, activation, slope);
      } finally {
        pool.finish();
      }
    },
    depthwise_conv2d_input_grad(dx, dz, w, batch, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, accumulate) {
      const outFloats = outputSize(H, kH, sH, pH, dH) * outputSize(W, kW, sW, pW, dW) * C;
      if (alone(batch * outFloats * kH * kW - MIN_SPLIT_MACS) || batch < 2) {
        return single.depthwise_conv2d_input_grad(dx, dz, w, batch, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, accumulate);
      }
      const share = unitsOf(batch);
      const outBytes = outFloats * 4;
      const inBytes = H * W * C * 4;
      let image = 0;
      for (let worker = 0; image + share < batch && worker < pool.size; worker++, image += share) {
        pool.assign(worker, DEPTHWISE_INPUT, dx + image * inBytes, dz + image * outBytes, w, share, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, accumulate);
      }
      pool.begin();
      try {
        single.depthwise_conv2d_input_grad(dx + image * inBytes, dz + image * outBytes, w, batch - image, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, accumulate);
      } finally {
        pool.finish();
      }
    },
    depthwise_conv2d_weight_grad(dw, dbias, x, dz, batch, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, firstChannel, channelCount, accumulate) {
      const outPositions = outputSize(H, kH, sH, pH, dH) * outputSize(W, kW, sW, pW, dW);
      if (alone(batch * outPositions * channelCount * kH * kW - MIN_SPLIT_MACS) || channelCount < 8) {
        return single.depthwise_conv2d_weight_grad(dw, dbias, x, dz, batch, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, firstChannel, channelCount, accumulate);
      }
      // Channels per share, a multiple of 4 (whole vectors: every split sums each channel alike).
      const share = shareOf(channelCount);
      let channel = 0;
      for (let worker = 0; channel + share < channelCount && worker < pool.size; worker++, channel += share) {
        pool.assign(worker, DEPTHWISE_WEIGHT, dw, dbias, x, dz, batch, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW, firstChannel + channel, share, accumulate);
      }
      pool.begin();
      try {
        single.depthwise_conv2d_weight_grad(dw, dbias, x, dz, batch, H, W, C, kH, kW, sH, sW, pH, pW, dH, dW,
          firstChannel + channel, channelCount - channel, accumulate);
      } finally {
        pool.finish();
      }
    },
    conv2d_weight_grad(dw, x, dz, batch, H, W, C, N, groups, kH, kW, sH, sW, pH, pW, dH, dW, first, count, accumulate, mainScratch) {
      const outPositions = outputSize(H, kH, sH, pH, dH) * outputSize(W, kW, sW, pW, dW);
      if (alone(batch * outPositions * count * (N / groups) - MIN_SPLIT_MACS) || count < 8) {
        return single.conv2d_weight_grad(dw, x, dz, batch, H, W, C, N, groups, kH, kW, sH, sW, pH, pW, dH, dW, first, count, accumulate, mainScratch);
      }
      workerScratch(CONV_WEIGHT_SCRATCH_BYTES);
      // Rows of the weight per share, a multiple of 4 (the kernel's first row must be).
      const share = shareOf(count);
      let row = 0;
      for (let worker = 0; row + share < count && worker < pool.size; worker++, row += share) {
        pool.assign(worker, CONV_WEIGHT, dw, x, dz, batch, H, W, C, N, groups, kH, kW, sH, sW, pH, pW, dH, dW, first + row, share, accumulate, scratch[worker]);
      }
      pool.begin();
      try {
        single.conv2d_weight_grad(dw, x, dz, batch, H, W, C, N, groups, kH, kW, sH, sW, pH, pW, dH, dW, first + row, count - row, accumulate, mainScratch);
      } finally {
        pool.finish();
      }
    },
    attention_forward(out, probs, mask, q, k, v, batch, heads, headDim, queries, keys, qStride, kvStride, outStride, scale, first, last, mainScratch) {
      // About queries·keys·headDim multiply-adds an item: half of the scores and half of the weighted sums.
      if (alone((last - first) * queries * keys * headDim - MIN_SPLIT_MACS) || last - first < 2) {
        return single.attention_forward(out, probs, mask, q, k, v, batch, heads, headDim, queries, keys, qStride, kvStride, outStride, scale, first, last, mainScratch);
      }
      workerScratch(attentionScratchBytes(headDim, keys));
      const share = unitsOf(last - first);
      let item = first;
      for (let worker = 0; item + share < last && worker < pool.size; worker++, item += share) {
        pool.assign(worker, ATTENTION, out, probs, mask, q, k, v, batch, heads, headDim, queries, keys, qStride, kvStride, outStride,
          scale, item, item + share, scratch[worker]);
      }
      pool.begin();
      try {
        single.attention_forward(out, probs, mask, q, k, v, batch, heads, headDim, queries, keys, qStride, kvStride, outStride, scale, item, last, mainScratch);
      } finally {
        pool.finish();
      }
    },
    attention_backward(dq, dk, dv, dout, probs, mask, q, k, v, batch, heads, headDim, queries, keys, qStride, kvStride, outStride, scale, first, last, mainScratch) {
      if (alone((last - first) * queries * keys * headDim - MIN_SPLIT_MACS) || last - first < 2) {
        return single.attention_backward(dq, dk, dv, dout, probs, mask, q, k, v, batch, heads, headDim, queries, keys, qStride, kvStride, outStride,
          scale, first, last, mainScratch);
      }
      workerScratch(attentionScratchBytes(headDim, keys));
      const share = unitsOf(last - first);
      let item = first;
      // 21 arguments: all ARGS_PER_WORKER slots.
      for (let worker = 0; item + share < last && worker < pool.size; worker++, item += share) {
        pool.assign(worker, ATTENTION_BACKWARD, dq, dk, dv, dout, probs, mask, q, k, v, batch, heads, headDim, queries, keys, qStride, kvStride,
          outStride, scale, item, item + share, scratch[worker]);
      }
      pool.begin();
      try {
        single.attention_backward(dq, dk, dv, dout, probs, mask, q, k, v, batch, heads, headDim, queries, keys, qStride, kvStride, outStride,
          scale, item, last, mainScratch);
      } finally {
        pool.finish();
      }
    },
    gemm_nn(out, x, w, bias, M, K, N, mainScratch) {
      if (alone(M * K * N - MIN_SPLIT_MACS) || M < 8) return single.gemm_nn(out, x, w, bias, M, K, N, mainScratch);
      // X·W alone is dense_forward without an activation (linear): the same bits, one split.
      splitDense(out, out, x, w, bias, M, K, N, 0, 0, mainScratch);
    },
    dense_forward(z, a, x, w, bias, M, K, N, activation, slope, mainScratch) {
      if (alone(M * K * N - MIN_SPLIT_MACS) || M < 8) return single.dense_forward(z, a, x, w, bias, M, K, N, activation, slope, mainScratch);
      splitDense(z, a, x, w, bias, M, K, N, activation, slope, mainScratch);
    },
    gemm_nt(out, a, b, M, K, N, accumulate, mainScratch) {
      if (alone(M * K * N - MIN_SPLIT_MACS) || M < 8) return single.gemm_nt(out, a, b, M, K, N, accumulate, mainScratch);
      workerScratch(gemmScratchBytes(K));
      const share = shareOf(M);
      let row = 0;
      for (let worker = 0; row + share < M && worker < pool.size; worker++, row += share) {
        pool.assign(worker, NT, out + row * N * 4, a + row * K * 4, b, share, K, N, accumulate, scratch[worker]);
      }
      pool.begin();
      try {
        single.gemm_nt(out + row * N * 4, a + row * K * 4, b, M - row, K, N, accumulate, mainScratch);
      } finally {
        pool.finish();
      }
    },
    gemm_tn(out, a, b, M, K, N, lda, accumulate, mainScratch) {
      if (alone(M * K * N - MIN_SPLIT_MACS) || M < 8) return single.gemm_tn(out, a, b, M, K, N, lda, accumulate, mainScratch);
      workerScratch(gemmScratchBytes(K, shareOf(M)));
      const share = shareOf(M);
      let row = 0;
      for (let worker = 0; row + share < M && worker < pool.size; worker++, row += share) {
        pool.assign(worker, TN, out + row * N * 4, a + row * 4, b, share, K, N, lda, accumulate, scratch[worker]);
      }
      pool.begin();
      try {
        single.gemm_tn(out + row * N * 4, a + row * 4, b, M - row, K, N, lda, accumulate, mainScratch);
      } finally {
        pool.finish();
      }
    },
    sgd_update(params, grads, velocity, n, lr, momentum, dampening, nesterov, weightDecay, firstStep) {
      if (alone(n - MIN_SPLIT_PARAMS)) {
        return single.sgd_update(params, grads, velocity, n, lr, momentum, dampening, nesterov, weightDecay, firstStep);
      }
      const share = rangeOf(n);
      let start = 0;
      for (let worker = 0; start + share < n && worker < pool.size; worker++, start += share) {
        const offset = start * 4;
        pool.assign(worker, SGD, params + offset, grads + offset, shifted(velocity, offset), share,
          lr, momentum, dampening, nesterov, weightDecay, firstStep);
      }
      pool.begin();
      try {
        const offset = start * 4;
        single.sgd_update(params + offset, grads + offset, shifted(velocity, offset), n - start,
          lr, momentum, dampening, nesterov, weightDecay, firstStep);
      } finally {
        pool.finish();
      }
    },
    adam_update(params, grads, expAvg, expAvgSq, n, lr, beta1, beta2, eps, weightDecay, decoupled, step) {
      if (alone(n - MIN_SPLIT_PARAMS)) {
        return single.adam_update(params, grads, expAvg, expAvgSq, n, lr, beta1, beta2, eps, weightDecay, decoupled, step);
      }
      const share = rangeOf(n);
      let start = 0;
      for (let worker = 0; start + share < n && worker < pool.size; worker++, start += share) {
        const offset = start * 4;
        pool.assign(worker, ADAM, params + offset, grads + offset, expAvg + offset, expAvgSq + offset, share,
          lr, beta1, beta2, eps, weightDecay, decoupled, step);
      }
      pool.begin();
      try {
        const offset = start * 4;
        single.adam_update(params + offset, grads + offset, expAvg + offset, expAvgSq + offset, n - start,
          lr, beta1, beta2, eps, weightDecay, decoupled, step);
      } finally {
        pool.finish();
      }
    },
    rmsprop_update(params, grads, squareAvg, gradAvg, momentumBuffer, n, lr, alpha, eps, weightDecay, momentum, centered) {
      if (alone(n - MIN_SPLIT_PARAMS)) {
        return single.rmsprop_update(params, grads, squareAvg, gradAvg, momentumBuffer, n, lr, alpha, eps, weightDecay, momentum, centered);
      }
      const share = rangeOf(n);
      let start = 0;
      for (let worker = 0; start + share < n && worker < pool.size; worker++, start += share) {
        const offset = start * 4;
        pool.assign(worker, RMSPROP, params + offset, grads + offset, squareAvg + offset, shifted(gradAvg, offset),
          shifted(momentumBuffer, offset), share, lr, alpha, eps, weightDecay, momentum, centered);
      }
      pool.begin();
      try {
        const offset = start * 4;
        single.rmsprop_update(params + offset, grads + offset, squareAvg + offset, shifted(gradAvg, offset),
          shifted(momentumBuffer, offset), n - start, lr, alpha, eps, weightDecay, momentum, centered);
      } finally {
        pool.finish();
      }
    },
  };
}

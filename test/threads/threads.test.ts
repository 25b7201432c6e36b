// Threads: large products and the optimizer split across workers give the same bits as one thread,
// for any thread count; a failure in a worker surfaces on the calling thread.
import { afterAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { attentionScratchBytes, CONV_WEIGHT_SCRATCH_BYTES, convScratchBytes, gemmScratchBytes } from '../../src/backend/kernels.js';
import { createWasmBackend } from '../../src/backend/wasm/index.js';
import { AdamW, conv2d, dense, flatten, gpt, init, maxPool2d, Sequential, SGD, SimdpropError } from '../../src/index.js';
import { normalMatrix, randomLabels, sameBits } from '../model/setup.js';

const backends = new Map<number, Backend>();
for (const threads of [1, 2, 3]) backends.set(threads, await createWasmBackend({ threads }));
afterAll(() => backends.forEach((backend) => backend.close()));

type Product = 'nn' | 'nt' | 'tn';

// Runs one product on a backend over seeded operands; tn accumulates onto seeded start values.
function product(backend: Backend, kind: Product, M: number, K: number, N: number): Float32Array {
  const { heap, kernels } = backend;
  const a = heap.alloc(M * K * 4);
  const b = heap.alloc(K * N * 4);
  const bias = heap.alloc(N * 4);
  const out = heap.alloc(M * N * 4);
  const scratch = heap.alloc(gemmScratchBytes(K, M));
  heap.f32.set(normalMatrix(M, K, 1), a >> 2);
  heap.f32.set(normalMatrix(K, N, 2), b >> 2);
  heap.f32.set(normalMatrix(1, N, 3), bias >> 2);
  if (kind === 'tn') heap.f32.set(normalMatrix(M, N, 4), out >> 2);
  else heap.f32.fill(NaN, out >> 2, (out >> 2) + M * N);
  if (kind === 'nn') kernels.gemm_nn(out, a, b, bias, M, K, N, scratch);
  else if (kind === 'nt') kernels.gemm_nt(out, a, b, M, K, N, 0, scratch);
  else kernels.gemm_tn(out, a, b, M, K, N, M, 1, scratch);
  const result = heap.f32.slice(out >> 2, (out >> 2) + M * N);
  [a, b, bias, out, scratch].forEach((block) => heap.free(block));
  return result;
}

describe('threaded kernels are bit-identical to one thread', () => {
  // Large enough to be split, with row counts that leave a short last share.
  const shapes: [number, number, number][] = [[130, 129, 67], [64, 784, 128], [37, 1031, 17], [257, 64, 65], [8, 300, 300]];
  for (const kind of ['nn', 'nt', 'tn'] as const) {
    it.each(shapes)(`gemm_${kind} M=%i K=%i N=%i`, (M, K, N) => {
      // For nt the right operand is [N × K]: the same number of elements, read transposed.
      const alone = product(backends.get(1)!, kind, M, K, N);
      expect(alone.every(Number.isFinite)).toBe(true);
      for (const threads of [2, 3]) expect(sameBits(product(backends.get(threads)!, kind, M, K, N), alone)).toBe(true);
    });
  }

  it.each([[130, 129, 67, 1], [257, 300, 40, 6], [64, 784, 3, 3]])('dense_forward M=%i K=%i N=%i activation %i (a = z)', (M, K, N, activation) => {
    const results = [1, 2, 3].map((threads) => {
      const { heap, kernels } = backends.get(threads)!;
      const [x, w, bias, z, scratch] = [heap.alloc(M * K * 4), heap.alloc(K * N * 4), heap.alloc(N * 4), heap.alloc(M * N * 4), heap.alloc(gemmScratchBytes(K))];
      heap.f32.set(normalMatrix(M, K, 11), x >> 2);
      heap.f32.set(normalMatrix(K, N, 12), w >> 2);
      heap.f32.set(normalMatrix(1, N, 13), bias >> 2);
      kernels.dense_forward(z, z, x, w, bias, M, K, N, activation, 0.01, scratch);
      const result = heap.f32.slice(z >> 2, (z >> 2) + M * N);
      [x, w, bias, z, scratch].forEach((block) => heap.free(block));
      return result;
    });
    expect(results[0].every(Number.isFinite)).toBe(true);
    for (const result of results.slice(1)) expect(sameBits(result, results[0])).toBe(true);
  });

  // batch, H, W, C, N, kernel, stride, pad, dilation: splits by image (forward, input gradient) and by
  // rows of the weight (weight gradient), with short last shares.
  it.each([[7, 14, 14, 6, 16, 5, 1, 0, 1], [5, 16, 16, 32, 32, 3, 1, 1, 1], [3, 15, 13, 4, 9, 3, 2, 1, 2]])(
    'conv2d forward, input and weight gradients: batch %i, %i×%i×%i → %i, kernel %i, stride %i, pad %i, dilation %i',
    (batch, H, W, C, N, k, s, p, d) => {
      const outH = Math.floor((H + 2 * p - d * (k - 1) - 1) / s) + 1;
      const outW = Math.floor((W + 2 * p - d * (k - 1) - 1) / s) + 1;
      const [xs, zs, ws] = [batch * H * W * C, batch * outH * outW * N, k * k * C * N];
      const geometry = [batch, H, W, C, N, k, k, s, s, p, p, d, d] as const;
      // The gradients take the group count after the channels (one group here).
      const gradGeometry = [batch, H, W, C, N, 1, k, k, s, s, p, p, d, d] as const;
      const results = [1, 2, 3].map((threads) => {
        const { heap, kernels } = backends.get(threads)!;
        const [x, w, bias, z, dz, dx, dw] = [xs, ws, N, zs, zs, xs, ws].map((n) => heap.alloc(n * 4));
        const scratch = heap.alloc(Math.max(convScratchBytes(k * k * Math.max(C, N)), CONV_WEIGHT_SCRATCH_BYTES));
        heap.f32.set(normalMatrix(1, xs, 21), x >> 2);
        heap.f32.set(normalMatrix(1, ws, 22), w >> 2);
        heap.f32.set(normalMatrix(1, N, 23), bias >> 2);
        heap.f32.set(normalMatrix(1, zs, 24), dz >> 2);
        heap.f32.set(normalMatrix(1, ws, 25), dw >> 2);
        kernels.conv2d_forward(z, z, x, w, bias, ...geometry, 1, 0, scratch);
        kernels.conv2d_input_grad(dx, dz, w, ...gradGeometry, 0, scratch);
        kernels.conv2d_weight_grad(dw, x, dz, ...gradGeometry, 0, k * k * C, 1, scratch);
        const result = [z, dx, dw].map((block, i) => heap.f32.slice(block >> 2, (block >> 2) + [zs, xs, ws][i]));
        [x, w, bias, z, dz, dx, dw, scratch].forEach((block) => heap.free(block));
        return result;
      });
      results[0].forEach((values) => expect(values.every(Number.isFinite)).toBe(true));
      for (const result of results.slice(1)) result.forEach((values, i) => expect(sameBits(values, results[0][i]), ['z', 'dx', 'dw'][i]).toBe(true));
    },
  );

  it.each([[9, 28, 28, 32, 3, 1, 1], [5, 15, 17, 22, 5, 2, 2]])(
    'depthwise conv2d forward, input and weight gradients: batch %i, %i×%i×%i, kernel %i, stride %i, pad %i',
    (batch, H, W, C, k, s, p) => {
      const outH = Math.floor((H + 2 * p - k) / s) + 1;
      const outW = Math.floor((W + 2 * p - k) / s) + 1;
      const [xs, zs, ws] = [batch * H * W * C, batch * outH * outW * C, k * k * C];
      const geometry = [batch, H, W, C, k, k, s, s, p, p, 1, 1] as const;
      const results = [1, 2, 3].map((threads) => {
        const { heap, kernels } = backends.get(threads)!;
        const [x, w, bias, z, dz, dx, dw, db] = [xs, ws, C, zs, zs, xs, ws, C].map((n) => heap.alloc(n * 4));
        heap.f32.set(normalMatrix(1, xs, 41), x >> 2);
        heap.f32.set(normalMatrix(1, ws, 42), w >> 2);
        heap.f32.set(normalMatrix(1, C, 43), bias >> 2);
        heap.f32.set(normalMatrix(1, zs, 44), dz >> 2);
        kernels.depthwise_conv2d_forward(z, z, x, w, bias, ...geometry, 1, 0);
        kernels.depthwise_conv2d_input_grad(dx, dz, w, ...geometry, 0);
        kernels.depthwise_conv2d_weight_grad(dw, db, x, dz, ...geometry, 0, C, 0);
        const result = [z, dx, dw, db].map((block, i) => heap.f32.slice(block >> 2, (block >> 2) + [zs, xs, ws, C][i]));
        [x, w, bias, z, dz, dx, dw, db].forEach((block) => heap.free(block));
        return result;
      });
      results[0].forEach((values) => expect(values.every(Number.isFinite)).toBe(true));
      for (const result of results.slice(1)) result.forEach((values, i) => expect(sameBits(values, results[0][i]), ['z', 'dx', 'dw', 'db'][i]).toBe(true));
    },
  );

  // batch, heads, headDim, T: split by (sample, head) items, 6 as 3 + 3 or 2 + 2 + 2, 5 as 3 + 2 or 2 + 2 + 1.
  it.each([[2, 3, 24, 64], [1, 5, 17, 80]])(
    'attention forward and backward, saved and recomputed probabilities, a dropout mask: batch %i, %i heads of %i, T = %i',
    (batch, heads, headDim, T) => {
      const C = heads * headDim;
      const [qkvs, outs, probsFloats] = [batch * T * 3 * C, batch * T * C, batch * heads * T * T];
      const geometry = [batch, heads, headDim, T, T, 3 * C, 3 * C, C, 1 / Math.sqrt(headDim), 0, batch * heads] as const;
      const results = [1, 2, 3].map((threads) => {
        const { heap, kernels } = backends.get(threads)!;
        const [qkv, out, probs, mask, dout, saved, recomputed] = [qkvs, outs, probsFloats, probsFloats, outs, qkvs, qkvs].map((n) => heap.alloc(n * 4));
        const scratch = heap.alloc(attentionScratchBytes(headDim, T));
        heap.f32.set(normalMatrix(1, qkvs, 51), qkv >> 2);
        heap.f32.set(normalMatrix(1, outs, 52), dout >> 2);
        heap.f32.set(normalMatrix(1, probsFloats, 53).map((x) => (x < -0.5 ? 0 : 1 / 0.7)), mask >> 2);
        const [q, k, v] = [qkv, qkv + 4 * C, qkv + 8 * C];
        kernels.attention_forward(out, probs, mask, q, k, v, ...geometry, scratch);
        kernels.attention_backward(saved, saved + 4 * C, saved + 8 * C, dout, probs, mask, q, k, v, ...geometry, scratch);
        kernels.attention_backward(recomputed, recomputed + 4 * C, recomputed + 8 * C, dout, 0, mask, q, k, v, ...geometry, scratch);
        const result = [out, probs, saved, recomputed].map((block, i) => heap.f32.slice(block >> 2, (block >> 2) + [outs, probsFloats, qkvs, qkvs][i]));
        [qkv, out, probs, mask, dout, saved, recomputed, scratch].forEach((block) => heap.free(block));
        return result;
      });
      results[0].forEach((values) => expect(values.every(Number.isFinite)).toBe(true));
      expect(sameBits(results[0][3], results[0][2]), 'recomputed against saved').toBe(true);
      for (const result of results.slice(1)) {
        result.forEach((values, i) => expect(sameBits(values, results[0][i]), ['out', 'probs', 'dqkv', 'dqkv recomputed'][i]).toBe(true));
      }
    },
  );

  it('sgd_update over a large block, with momentum and Nesterov', () => {
    const n = 100_003;
    const results = [1, 2, 3].map((threads) => {
      const { heap, kernels } = backends.get(threads)!;
      const [params, grads, velocity] = [heap.alloc(n * 4), heap.alloc(n * 4), heap.alloc(n * 4)];
      heap.f32.set(normalMatrix(1, n, 5), params >> 2);
      heap.f32.set(normalMatrix(1, n, 6), grads >> 2);
      heap.f32.set(normalMatrix(1, n, 7), velocity >> 2);
      kernels.sgd_update(params, grads, velocity, n, 0.05, 0.9, 0, 1, 1e-4, 0);
      const result = [heap.f32.slice(params >> 2, (params >> 2) + n), heap.f32.slice(velocity >> 2, (velocity >> 2) + n)];
      [params, grads, velocity].forEach((block) => heap.free(block));
      return result;
    });
    for (const [params, velocity] of results.slice(1)) {
      expect(sameBits(params, results[0][0])).toBe(true);
      expect(sameBits(velocity, results[0][1])).toBe(true);
    }
  });

  it('a failure in a worker is reported on the calling thread', () => {
    const { kernels } = backends.get(2)!;
    // Far past the end of the memory: every share traps.
    expect(() => kernels.gemm_nn(0xfff00000, 0, 0, 0, 64, 256, 64, 0)).toThrow();
    // The pool still works afterwards.
    expect(sameBits(product(backends.get(2)!, 'nn', 64, 784, 128), product(backends.get(1)!, 'nn', 64, 784, 128))).toBe(true);
  });
});

describe('training on threads', () => {
  it('gives the same weights after 5 steps with 1, 2 and 3 threads', async () => {
    const x = normalMatrix(96, 784, 8);
    const labels = randomLabels(96, 10, 9);
    const weights: Float32Array[][] = [];
    for (const threads of [1, 2, 3]) {
      const report = await init({ threads });
      expect(report.threads).toBe(threads);
      const model = new Sequential([dense(784, 256, 'relu'), dense(256, 10)], { seed: 3 });
      expect(model.backend.threads).toBe(threads);
      const optimizer = new SGD(model, { lr: 0.05, momentum: 0.9 });
      for (let step = 0; step < 5; step++) model.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer });
      weights.push(model.namedParameters().map((p) => p.value.slice()));
      model.dispose();
    }
    for (const run of weights.slice(1)) run.forEach((w, i) => expect(sameBits(w, weights[0][i])).toBe(true));
  });

  it('a CNN gives the same weights after 3 steps with 1, 2 and 3 threads', async () => {
    const x = normalMatrix(16, 28 * 28, 31);
    const labels = randomLabels(16, 10, 32);
    const weights: Float32Array[][] = [];
    for (const threads of [1, 2, 3]) {
      await init({ threads });
      const model = new Sequential([
        conv2d(1, 8, 5, { padding: 2, activation: 'relu' }), maxPool2d(2), conv2d(8, 16, 5, { activation: 'relu' }), maxPool2d(2),
        flatten(), dense(400, 10),
      ], { inputShape: [28, 28, 1], seed: 5 });
      const optimizer = new SGD(model, { lr: 0.05, momentum: 0.9 });
      for (let step = 0; step < 3; step++) model.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer });
      weights.push(model.namedParameters().map((p) => p.value.slice()));
      model.dispose();
    }
    for (const run of weights.slice(1)) run.forEach((w, i) => expect(sameBits(w, weights[0][i])).toBe(true));
  });

  it('a GPT (attention split by items, dropout, clipping, AdamW groups) gives the same weights after 3 steps with 1, 2 and 3 threads', async () => {
    const tokens = Int32Array.from({ length: 8 * 32 }, (_, i) => (i * 7 + (i >> 3)) % 16);
    const targets = Int32Array.from({ length: 8 * 32 }, (_, i) => (i * 5 + 3) % 16);
    const weights: Float32Array[][] = [];
    for (const threads of [1, 2, 3]) {
      await init({ threads });
      // c_attn: 256 rows × 64 × 192 multiply-adds, attention 16 items × 32 × 32 × 32: both above the split.
      const model = gpt({ vocabSize: 16, blockSize: 32, nLayer: 2, nHead: 2, nEmbd: 64, dropout: 0.1 }, { seed: 6 });
      const optimizer = new AdamW(model, { lr: 1e-3, weightDecay: 0.1, groups: [{ params: 'noDecay', weightDecay: 0 }] });
      for (let step = 0; step < 3; step++) model.trainStep(tokens, targets, { loss: 'softmaxCrossEntropy', optimizer, clipNorm: 0.5 });
      weights.push(model.namedParameters().map((p) => p.value.slice()));
      model.dispose();
    }
    for (const run of weights.slice(1)) run.forEach((w, i) => expect(sameBits(w, weights[0][i])).toBe(true));
  });

  it('init reports threads and refuses a bad count', async () => {
    const report = await init({ threads: 2 });
    expect(report).toMatchObject({ backend: 'wasm', threads: 2, description: expect.stringMatching(/2 threads$/) });
    await expect(init({ threads: 0 })).rejects.toThrow(SimdpropError);
    await expect(init({ threads: 1.5 })).rejects.toThrow(/threads must be a whole number from 1 to 61, got number 1.5/);
  });
});

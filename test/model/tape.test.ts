// The tape: a training step's kernel calls recorded and run in one crossing into wasm. Every kernel
// must run from the tape exactly as when called directly, and a model trained through the tape must
// end bit-identical to one whose calls go one by one.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import type { Kernels, KernelName } from '../../src/backend/kernels.js';
import { createWasmBackend, KERNEL_NAMES } from '../../src/backend/wasm/index.js';
import {
  Adam, AdamW, dense, dropout, gpt, init, Model, RMSprop, SGD, Sequential, SimdpropError,
  type ActivationName, type LossName, type Optimizer,
} from '../../src/index.js';
import { createRandom } from '../random.js';

const FLOATS = 1024;
const REGIONS = 10;
/** The last region, p(9), is scratch: this many bytes more than the others, for the convolutions' packed blocks. */
const EXTRA_SCRATCH_BYTES = 160 * 1024;

// Arguments for one call of each kernel over regions of FLOATS floats at p(0) … p(9): odd sizes, so
// vector bodies and scalar tails both run. p(4) holds labels; p(9) is scratch.
function callEach(kernels: Kernels, p: (i: number) => number): Record<KernelName, () => number | void> {
  const [n, rows, cols] = [37, 5, 7];
  return {
    gemm_nn: () => kernels.gemm_nn(p(0), p(1), p(2), p(3), 5, 6, 9, p(9)),
    gemm_nt: () => kernels.gemm_nt(p(0), p(1), p(2), 5, 6, 9, 1, p(9)),
    dense_forward: () => kernels.dense_forward(p(0), p(6), p(1), p(2), p(3), 5, 6, 9, 3, 0.1, p(9)),
    gemm_tn: () => kernels.gemm_tn(p(0), p(1), p(2), 5, 6, 9, 7, 1, p(9)),
    relu_forward: () => kernels.relu_forward(p(0), p(1), n),
    relu_backward: () => kernels.relu_backward(p(0), p(1), p(2), n),
    leaky_relu_forward: () => kernels.leaky_relu_forward(p(0), p(1), n, 0.03),
    leaky_relu_backward: () => kernels.leaky_relu_backward(p(0), p(1), p(2), n, 0.03),
    sigmoid_forward: () => kernels.sigmoid_forward(p(0), p(1), n),
    sigmoid_backward: () => kernels.sigmoid_backward(p(0), p(1), p(2), n),
    tanh_forward: () => kernels.tanh_forward(p(0), p(1), n),
    tanh_backward: () => kernels.tanh_backward(p(0), p(1), p(2), n),
    gelu_forward: () => kernels.gelu_forward(p(0), p(1), n),
    gelu_backward: () => kernels.gelu_backward(p(0), p(1), p(2), n),
    softmax_forward: () => kernels.softmax_forward(p(0), p(1), rows, cols),
    softmax_backward: () => kernels.softmax_backward(p(0), p(1), p(2), rows, cols),
    softmax_cross_entropy_labels: () => kernels.softmax_cross_entropy_labels(p(0), p(1), p(4), rows, cols),
    softmax_cross_entropy_targets: () => kernels.softmax_cross_entropy_targets(p(0), p(1), p(2), rows, cols),
    bce: () => kernels.bce(p(0), p(1), p(2), n),
    bce_with_logits: () => kernels.bce_with_logits(p(0), p(1), p(2), n),
    mse: () => kernels.mse(p(0), p(1), p(2), n),
    mean_loss: () => kernels.mean_loss(p(0), p(1), n),
    huber: () => kernels.huber(p(0), p(1), p(2), n, 0.3),
    bias_grad: () => kernels.bias_grad(p(0), p(1), rows, cols, 1),
    sum_squares: () => kernels.sum_squares(p(1), n),
    clip_grad_norm: () => kernels.clip_grad_norm(p(0), n, 0.5),
    count_nonfinite: () => kernels.count_nonfinite(p(5), n),
    count_outside: () => kernels.count_outside(p(1), n, 0.1, 0.7),
    fill: () => kernels.fill(p(0), n, -2.5),
    scale: () => kernels.scale(p(0), n, 0.7),
    axpy: () => kernels.axpy(p(0), p(1), n, -1.3),
    copy: () => kernels.copy(p(0), p(1), n),
    mul: () => kernels.mul(p(0), p(1), p(2), n),
    mul_add: () => kernels.mul_add(p(0), p(1), p(2), n),
    clamp: () => kernels.clamp(p(0), n, 0.2, 0.6),
    dropout_mask: () => kernels.dropout_mask(p(0), n, 0.3, 0xdeadbeef, 5),
    sgd_update: () => kernels.sgd_update(p(0), p(1), p(2), n, 0.1, 0.9, 0.1, 0, 0.01, 0),
    adam_update: () => kernels.adam_update(p(0), p(1), p(2), p(3), n, 0.01, 0.9, 0.999, 1e-8, 0.1, 1, 3),
    rmsprop_update: () => kernels.rmsprop_update(p(0), p(1), p(2), p(3), p(5), n, 0.01, 0.99, 1e-8, 0.01, 0.9, 1),
    layer_norm_forward: () => kernels.layer_norm_forward(p(0), p(6), p(7), p(1), p(2), p(3), rows, cols, 1e-5),
    layer_norm_backward: () => kernels.layer_norm_backward(p(0), p(6), p(7), p(1), p(2), p(3), p(8), p(9), rows, cols, 1, 1),
    batch_norm_forward_train: () => kernels.batch_norm_forward_train(p(0), p(6), p(7), p(8), p(5) + 64, p(4), p(1), p(2), p(3), p(9), rows, cols, 1e-5, 0.1),
    batch_norm_forward_eval: () => kernels.batch_norm_forward_eval(p(0), p(6), p(7), p(1), p(8), p(5) + 64, p(2), p(3), rows, cols, 1e-5),
    batch_norm_backward: () => kernels.batch_norm_backward(p(0), p(6), p(7), p(1), p(2), p(3), p(8), p(5) + 64, p(9), rows, cols, 1, 1, 1),
    embedding_forward: () => kernels.embedding_forward(p(0), p(4), p(1), n, 5),
    embedding_backward: () => kernels.embedding_backward(p(0), p(1), p(4), n, 5, 2, 6, 1),
    copy_rows: () => kernels.copy_rows(p(0), 9, p(1), 11, rows, cols, 1),
    // 2 images of 5×4×3, 3×2 kernel to 6 channels, stride (2, 1), pad (1, 1), dilation (1, 2).
    conv2d_forward: () => kernels.conv2d_forward(p(0), p(6), p(1), p(2), p(3), 2, 5, 4, 3, 6, 3, 2, 2, 1, 1, 1, 1, 2, 1, 0.1, p(9)),
    // The same geometry over 6 channels in 3 groups of 2 → 3 (9 channels out); rows 4 … 13 of the weight gradient cross a group.
    conv2d_grouped_forward: () => kernels.conv2d_grouped_forward(p(0), p(1), p(2), p(3), 2, 5, 4, 6, 9, 3, 3, 2, 2, 1, 1, 1, 1, 2, p(9)),
    conv2d_input_grad: () => kernels.conv2d_input_grad(p(0), p(1), p(2), 2, 5, 4, 6, 9, 3, 3, 2, 2, 1, 1, 1, 1, 2, 1, p(9)),
    conv2d_weight_grad: () => kernels.conv2d_weight_grad(p(0), p(1), p(2), 2, 5, 4, 6, 9, 3, 3, 2, 2, 1, 1, 1, 1, 2, 4, 10, 1, p(9)),

    // 2 images of 5×4×21 (16-, 4- and 1-channel steps), 3×2 kernel, stride (2, 1), pad (1, 1), dilation (1, 2).
    depthwise_conv2d_forward: () => kernels.depthwise_conv2d_forward(p(0), p(6), p(1), p(2), p(3), 2, 5, 4, 21, 3, 2, 2, 1, 1, 1, 1, 2, 1, 0.1),
    depthwise_conv2d_input_grad: () => kernels.depthwise_conv2d_input_grad(p(0), p(1), p(2), 2, 5, 4, 21, 3, 2, 2, 1, 1, 1, 1, 2, 1),
    depthwise_conv2d_weight_grad: () => kernels.depthwise_conv2d_weight_grad(p(0), p(7), p(1), p(2), 2, 5, 4, 21, 3, 2, 2, 1, 1, 1, 1, 2, 3, 17, 1),
    // Two samples of 5×6×5, kernel 3, stride 2, padding 1: 3×3 outputs; p(4)'s labels serve as argmax.
    max_pool_forward: () => kernels.max_pool_forward(p(0), p(6), p(1), 2, 5, 6, 5, 3, 3, 3, 3, 2, 2, 1, 1),
    max_pool_backward: () => kernels.max_pool_backward(p(0), p(1), p(4), 2, 37, 20, 1),
    avg_pool_forward: () => kernels.avg_pool_forward(p(0), p(1), 2, 5, 6, 5, 3, 3, 3, 3, 2, 2, 1, 1, 0),
    avg_pool_backward: () => kernels.avg_pool_backward(p(0), p(1), 2, 5, 6, 5, 3, 3, 3, 3, 2, 2, 1, 1, 1, 1),
    global_avg_pool_forward: () => kernels.global_avg_pool_forward(p(0), p(1), 3, 7, 5),
    global_avg_pool_backward: () => kernels.global_avg_pool_backward(p(0), p(1), 3, 7, 5, 1),
    // Two samples of 5 positions, 2 heads of 3 in a fused qkv (strides 18 and 6), items 1 … 3; the
    // backward over 3 queries and 5 keys apart, the probabilities recomputed.
    attention_forward: () => kernels.attention_forward(p(0), p(6), p(7), p(1), p(1) + 24, p(1) + 48, 2, 2, 3, 5, 5, 18, 18, 6, 0.5, 1, 4, p(9)),
    attention_backward: () => kernels.attention_backward(p(0), p(0) + 256, p(0) + 512, p(8), 0, p(7), p(1), p(2), p(3),
      2, 2, 3, 3, 5, 6, 6, 6, 0.4, 0, 4, p(9)),
  };
}

describe('every kernel runs from the tape as it runs when called', () => {
  let backend: Backend;
  let base: number;
  let start: Float32Array;
  beforeAll(async () => {
    backend = await createWasmBackend({ relaxed: false });
    base = backend.heap.alloc(REGIONS * FLOATS * 4 + EXTRA_SCRATCH_BYTES);
    const random = createRandom('tape kernels');
    start = new Float32Array(REGIONS * FLOATS);
    // Values in (0, 1): valid probabilities, targets and second moments for every kernel.
    for (let i = 0; i < start.length; i++) start[i] = 0.02 + 0.96 * random();
    for (let i = 0; i < FLOATS; i++) new Int32Array(start.buffer, 4 * 4 * FLOATS, FLOATS)[i] = i % 7;
    start[5 * FLOATS + 11] = NaN;
  });
  const p = (i: number): number => base + i * FLOATS * 4;
  const state = (): Float32Array => backend.heap.f32.slice(base >> 2, (base >> 2) + REGIONS * FLOATS);

  it('covers every kernel of the module', () => {
    expect(Object.keys(callEach(backend.kernels, p)).sort()).toEqual([...KERNEL_NAMES].sort());
  });

  for (const name of KERNEL_NAMES) {
    it(name, () => {
      const tape = backend.tape!;
      backend.heap.f32.set(start, base >> 2);
      const direct = callEach(backend.kernels, p)[name]();
      const expected = state();
      backend.heap.f32.set(start, base >> 2);
      tape.begin();
      const recorded = callEach(tape, p)[name]();
      tape.run();
      const got = state();
      expect(new Uint32Array(got.buffer)).toEqual(new Uint32Array(expected.buffer));
      if (name === 'sum_squares' || name === 'count_nonfinite' || name === 'count_outside') expect(recorded).toBe(direct);
      else if (name === 'clip_grad_norm') expect(recorded).toBeNaN();
      else if (typeof direct === 'number') {
        expect(recorded).toBeNaN();
        expect(tape.lossValue()).toBe(direct);
      }
      // Something happened: the kernel wrote, or returned a value.
      expect(typeof direct === 'number' || got.some((v, i) => !Object.is(v, start[i]))).toBe(true);
    });
  }

  it('a guard that finds a NaN ends the tape there, and what is recorded after it is dropped', () => {
    const tape = backend.tape!;
    backend.heap.f32.set(start, base >> 2);
    tape.begin();
    tape.fill(p(0), 4, 1);
    tape.guardFinite(p(5), 37);
    tape.fill(p(1), 4, 2);
    tape.run();
    tape.fill(p(2), 4, 3);
    tape.run();
    expect(tape.stopped).toBe(true);
    const after = state();
    expect([...after.subarray(0, 4)]).toEqual([1, 1, 1, 1]);
    expect(Array.from(after.subarray(FLOATS, FLOATS + 4))).toEqual(Array.from(start.subarray(FLOATS, FLOATS + 4)));
    expect(Array.from(after.subarray(2 * FLOATS, 2 * FLOATS + 4))).toEqual(Array.from(start.subarray(2 * FLOATS, 2 * FLOATS + 4)));
    tape.begin();
    tape.guardFinite(p(1), 37);
    tape.fill(p(1), 4, 2);
    tape.run();
    expect(tape.stopped).toBe(false);
    expect([...backend.heap.f32.subarray(p(1) >> 2, (p(1) >> 2) + 4)]).toEqual([2, 2, 2, 2]);
  });
});

// Two models of the same seed: one steps through the tape (trainStep), the other with its tape
// turned off, so each kernel is its own call. Their losses and every parameter must agree bit for bit.
function untaped<M extends Model>(model: M): M {
  (model as unknown as { tapeFor: () => undefined }).tapeFor = () => undefined;
  return model;
}

const bits = (values: Float32Array): Uint32Array => new Uint32Array(Float32Array.from(values).buffer);

interface Case {
  name: string;
  widths: number[];
  activation: ActivationName;
  loss: LossName;
  optimizer: (model: Sequential) => Optimizer;
  dropout?: number;
}

const CASES: Case[] = [
  { name: 'the 2-4-1 toy, relu, bce, SGD', widths: [2, 4, 1], activation: 'relu', loss: 'bce', optimizer: (m) => new SGD(m, { lr: 0.1 }) },
  { name: 'tanh, mse, SGD with Nesterov momentum', widths: [5, 9, 3], activation: 'tanh', loss: 'mse', optimizer: (m) => new SGD(m, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 }) },
  { name: 'gelu, softmax cross-entropy, Adam', widths: [7, 16, 17, 4], activation: 'gelu', loss: 'softmaxCrossEntropy', optimizer: (m) => new Adam(m, { lr: 0.01 }) },
  { name: 'leakyRelu, huber, AdamW', widths: [3, 5, 2], activation: 'leakyRelu', loss: 'huber', optimizer: (m) => new AdamW(m, { lr: 0.01, weightDecay: 0.1 }) },
  { name: 'sigmoid, bceWithLogits, centered RMSprop with momentum', widths: [4, 6, 3], activation: 'sigmoid', loss: 'bceWithLogits', optimizer: (m) => new RMSprop(m, { lr: 0.01, centered: true, momentum: 0.5 }) },
  { name: 'relu with dropout, softmax cross-entropy, SGD', widths: [6, 12, 5], activation: 'relu', loss: 'softmaxCrossEntropy', optimizer: (m) => new SGD(m, { lr: 0.1, momentum: 0.5 }), dropout: 0.25 },
  // 70 layers: some 280 records, more than the tape holds, so it runs part-way and goes on.
  { name: '70 layers (the tape fills and runs mid-step)', widths: Array.from({ length: 71 }, (_, i) => (i === 0 ? 3 : i === 70 ? 2 : 4)), activation: 'tanh', loss: 'mse', optimizer: (m) => new SGD(m, { lr: 0.01 }) },
];

function build(c: Case): Sequential {
  const last = c.widths.length - 2;
  const stack = c.widths.slice(1).flatMap((out, l) => {
    const layer = dense(c.widths[l], out, l < last ? c.activation : c.loss === 'bce' ? 'sigmoid' : 'linear');
    return c.dropout && l < last ? [layer, dropout(c.dropout)] : [layer];
  });
  return new Sequential(stack, { seed: 3, backend: 'wasm' });
}

function batch(c: Case, rows: number, step: number): { x: Float32Array; y: Float32Array | Int32Array } {
  const random = createRandom(`${c.name} ${step}`);
  const inputs = c.widths[0];
  const outputs = c.widths[c.widths.length - 1];
  const x = Float32Array.from({ length: rows * inputs }, () => random() * 2 - 1);
  if (c.loss === 'softmaxCrossEntropy') return { x, y: Int32Array.from({ length: rows }, () => Math.floor(random() * outputs)) };
  const y = Float32Array.from({ length: rows * outputs }, () => (c.loss === 'bce' || c.loss === 'bceWithLogits' ? (random() < 0.5 ? 0 : 1) : random() * 2 - 1));
  return { x, y };
}

// Counts the recordings started on the backend's tape.
function countRecordings(model: Sequential): { readonly count: number; restore: () => void } {
  const tape = (model.backend as unknown as { tape: { begin: () => void } }).tape;
  const begin = tape.begin;
  const counter = { count: 0, restore: () => { tape.begin = begin; } };
  tape.begin = function (this: unknown) {
    counter.count++;
    begin.call(this);
  };
  return counter;
}

// Counts the updates an optimizer records (the others are run again from the tape).
function countUpdates(optimizer: Optimizer): { count: number } {
  const counter = { count: 0 };
  const step = optimizer.step.bind(optimizer);
  optimizer.step = () => {
    counter.count++;
    step();
  };
  return counter;
}

describe('a model trained through the tape is bit-identical to one trained call by call', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm', threads: 1 });
  });

  for (const c of CASES) {
    it(c.name, () => {
      const taped = build(c);
      const plain = untaped(build(c));
      const [first, second] = [c.optimizer(taped), c.optimizer(plain)];
      for (let step = 0; step < 6; step++) {
        const { x, y } = batch(c, 13 + step, step);
        const a = taped.trainStep(x, y, { loss: c.loss, optimizer: first });
        const b = plain.trainStep(x, y, { loss: c.loss, optimizer: second });
        expect(Number.isFinite(a)).toBe(true);
        expect(Object.is(a, b)).toBe(true);
      }
      const [p, q] = [taped.namedParameters(), plain.namedParameters()];
      p.forEach((parameter, i) => {
        expect(bits(parameter.value)).toEqual(bits(q[i].value));
        expect(bits(parameter.grad)).toEqual(bits(q[i].grad));
      });
      expect(first.stepCount).toBe(6);
      taped.dispose();
      plain.dispose();
    });
  }

  it('a step of more records than the tape holds (a 40-block GPT) runs them in parts, to the same weights', () => {
    const make = () => gpt({ vocabSize: 5, blockSize: 3, nLayer: 40, nHead: 1, nEmbd: 4 }, { seed: 2, backend: 'wasm' });
    const taped = make();
    const plain = untaped(make());
    const [first, second] = [new AdamW(taped, { lr: 1e-2 }), new AdamW(plain, { lr: 1e-2 })];
    const tokens = Int32Array.of(0, 1, 2, 3, 4, 0);
    for (let step = 0; step < 3; step++) {
      const a = taped.trainStep(tokens, tokens, { loss: 'softmaxCrossEntropy', optimizer: first, clipNorm: 1 });
      expect(Object.is(a, plain.trainStep(tokens, tokens, { loss: 'softmaxCrossEntropy', optimizer: second, clipNorm: 1 }))).toBe(true);
    }
    const q = plain.namedParameters();
    taped.namedParameters().forEach((parameter, i) => expect(bits(parameter.value)).toEqual(bits(q[i].value)));
    taped.dispose();
    plain.dispose();
  });

  it('fit (unguarded, with clipNorm) steps through the tape to the same weights', async () => {
    const c = CASES[2];
    const taped = build(c);
    const plain = untaped(build(c));
    const { x, y } = batch(c, 50, 0);
    const options = (model: Sequential) => ({ loss: c.loss, optimizer: c.optimizer(model), epochs: 3, batchSize: 16, clipNorm: 0.5, seed: 2, nanGuard: false });
    const [h1, h2] = [await taped.fit(x, y, options(taped)), await plain.fit(x, y, options(plain))];
    expect(h1.loss).toEqual(h2.loss);
    taped.namedParameters().forEach((parameter, i) => expect(bits(parameter.value)).toEqual(bits(plain.namedParameters()[i].value)));
  });

  it('guarded fit steps through the tape to the same weights, and refuses the same overflowing update', async () => {
    for (const lr of [0.01, 1e30]) {
      const c = CASES[1];
      const taped = build(c);
      const plain = untaped(build(c));
      const { x, y } = batch(c, 40, 0);
      const options = (model: Sequential) => ({ loss: c.loss, optimizer: new SGD(model, { lr, momentum: 0.9 }), epochs: 4, batchSize: 8, seed: 5 });
      const [h1, h2] = [await taped.fit(x, y, options(taped)), await plain.fit(x, y, options(plain))];
      expect(h1.loss).toEqual(h2.loss);
      expect(h1.nonFinite).toBe(h2.nonFinite);
      if (lr > 1) expect(h1.nonFinite).toMatch(/not finite|undone|the loss is/);
      else expect(h1.nonFinite).toBeUndefined();
      taped.namedParameters().forEach((parameter, i) => {
        expect(bits(parameter.value)).toEqual(bits(plain.namedParameters()[i].value));
        expect(parameter.value.every(Number.isFinite)).toBe(true);
      });
    }
  });

  it('fit runs its kept records again, its NaN guard refuses from them as when recorded, and trainStep or an unguarded fit in between records anew', async () => {
    const c: Case = { name: 'fit replay', widths: [5, 9, 3], activation: 'relu', loss: 'mse', optimizer: (m) => new SGD(m, { lr: 0.05, momentum: 0.9 }) };
    const taped = build(c);
    const plain = untaped(build(c));
    const optimizers = [c.optimizer(taped), c.optimizer(plain)];
    const recordings = countRecordings(taped);
    const good = batch(c, 48, 0);
    // Row 37 overflows the forward: the fifth batch of 8 (unshuffled) has non-finite gradients.
    const bad = batch(c, 48, 1);
    bad.x.fill(3e38, 37 * 5, 38 * 5);
    const updates = countUpdates(optimizers[0]);
    const both = async (x: Float32Array, y: Float32Array | Int32Array, options: { epochs: number; nanGuard?: boolean; validationData?: { x: Float32Array; y: Float32Array | Int32Array } }) => {
      const h1 = await taped.fit(x, y, { loss: 'mse', optimizer: optimizers[0], batchSize: 8, shuffle: false, ...options });
      const h2 = await plain.fit(x, y, { loss: 'mse', optimizer: optimizers[1], batchSize: 8, shuffle: false, ...options });
      expect(h1.loss).toEqual(h2.loss);
      expect(h1.nonFinite).toBe(h2.nonFinite);
      return h1;
    };
    try {
      // Validation between the epochs runs in eval mode, off the tape: the next epoch still runs the kept records.
      await both(good.x, good.y, { epochs: 2, nanGuard: false, validationData: batch(c, 8, 4) });
      // 12 steps, recorded once (the update twice: momentum's first step differs).
      expect(recordings.count).toBe(1);
      expect(updates.count).toBe(2);
      const refused = await both(bad.x, bad.y, { epochs: 2 });
      expect(refused.nonFinite).toMatch(/epoch 1, batch 5/);
      // The guarded steps ran the unguarded fit's gradient records again, with the guarded update
      // recorded once, then kept.
      expect(recordings.count).toBe(1);
      expect(updates.count).toBe(3);
      const nan = batch(c, 8, 2);
      nan.x[7] = NaN;
      for (const [k, model] of [taped, plain].entries()) {
        expect(() => model.trainStep(nan.x, nan.y, { loss: 'mse', optimizer: optimizers[k] })).toThrow(/x holds NaN at row 1, column 2/);
      }
      const step = batch(c, 8, 3);
      expect(Object.is(taped.trainStep(step.x, step.y, { loss: 'mse', optimizer: optimizers[0] }),
        plain.trainStep(step.x, step.y, { loss: 'mse', optimizer: optimizers[1] }))).toBe(true);
      await both(good.x, good.y, { epochs: 1 });
      taped.namedParameters().forEach((parameter, i) => {
        expect(bits(parameter.value)).toEqual(bits(plain.namedParameters()[i].value));
        expect(parameter.value.every(Number.isFinite)).toBe(true);
      });
      expect(optimizers[0].stepCount).toBe(optimizers[1].stepCount);
    } finally {
      recordings.restore();
      taped.dispose();
      plain.dispose();
    }
  });

  it('a NaN in x stops the step at the tape\'s guard: weights, gradients, optimizer state and step count stay as they were', () => {
    const c = CASES[2];
    const model = build(c);
    const optimizer = c.optimizer(model);
    const { x, y } = batch(c, 9, 0);
    model.trainStep(x, y, { loss: c.loss, optimizer });
    const before = model.namedParameters().map((p) => [Float32Array.from(p.value), Float32Array.from(p.grad)]);
    const state = optimizer.stateForSaving().slots.map((s) => Float32Array.from(s));
    const bad = Float32Array.from(x);
    bad[17] = NaN;
    let error: unknown;
    try {
      model.trainStep(bad, y, { loss: c.loss, optimizer });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SimdpropError);
    expect((error as SimdpropError).code).toBe('NOT_FINITE');
    expect((error as Error).message).toMatch(/x holds NaN at row 2, column 3/);
    expect(optimizer.stepCount).toBe(1);
    model.namedParameters().forEach((p, i) => {
      expect(bits(p.value)).toEqual(bits(before[i][0]));
      expect(bits(p.grad)).toEqual(bits(before[i][1]));
    });
    optimizer.stateForSaving().slots.forEach((s, i) => expect(bits(s)).toEqual(bits(state[i])));
    // And the next good step is the step the model would have taken.
    const twin = untaped(build(c));
    const twinOptimizer = c.optimizer(twin);
    twin.trainStep(x, y, { loss: c.loss, optimizer: twinOptimizer });
    expect(Object.is(model.trainStep(x, y, { loss: c.loss, optimizer }), twin.trainStep(x, y, { loss: c.loss, optimizer: twinOptimizer }))).toBe(true);
  });
});

// trainStep keeps its records up to the update and runs them again while the next step has the same
// shape; anything that changes what a step records must make it record anew. Each scenario runs on a
// taped model and an untaped twin: losses and parameters must stay bit-identical throughout.
describe('trainStep runs its last records again only while they still describe the step', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm', threads: 1 });
  });


  type Event = (model: Sequential, optimizer: Optimizer) => Optimizer | void;
  const c: Case = { name: 'replay', widths: [5, 9, 7, 3], activation: 'tanh', loss: 'mse', optimizer: (m) => new SGD(m, { lr: 0.05, momentum: 0.9 }) };


  function run(events: { step?: { rows: number; loss?: LossName; delta?: number; seed?: number }; event?: Event }[]): { recordings: number; steps: number; updates: number } {
    const taped = build(c);
    const plain = untaped(build(c));
    let [first, second] = [c.optimizer(taped), c.optimizer(plain)];
    const counter = countRecordings(taped);
    let updates = countUpdates(first);
    let updatesBefore = 0;
    let steps = 0;
    try {
      for (const { step, event } of events) {
        if (event) {
          const [a, b] = [event(taped, first), event(plain, second)];
          if (a && b) {
            [first, second] = [a, b];
            updatesBefore += updates.count;
            updates = countUpdates(first);
          }
          continue;
        }
        const { rows, loss = 'mse', delta, seed = 0 } = step!;
        const { x, y } = batch(c, rows, seed);
        const a = taped.trainStep(x, y, { loss, optimizer: first, delta });
        const b = plain.trainStep(x, y, { loss, optimizer: second, delta });
        expect(Number.isFinite(a)).toBe(true);
        expect(Object.is(a, b)).toBe(true);
        steps++;
      }
      const [p, q] = [taped.namedParameters(), plain.namedParameters()];
      p.forEach((parameter, i) => {
        expect(bits(parameter.value)).toEqual(bits(q[i].value));
        expect(bits(parameter.grad)).toEqual(bits(q[i].grad));
      });
      return { recordings: counter.count, steps, updates: updatesBefore + updates.count };
    } finally {
      counter.restore();
      taped.dispose();
      plain.dispose();
    }
  }

  const same = (n: number, seed0 = 0) => Array.from({ length: n }, (_, i) => ({ step: { rows: 12, seed: seed0 + i } }));

  it('steps of the same shape record once and run the same records again', () => {
    const { recordings, steps, updates } = run(same(5));
    expect(steps).toBe(5);
    expect(recordings).toBe(1);
    // SGD with momentum: its first step's update differs (no velocity yet), the next is kept.
    expect(updates).toBe(2);
  });

  it('another model stepping on the same tape in between makes the next step record anew', () => {
    let other: Sequential | undefined;
    const { recordings } = run([
      ...same(2),
      {
        event: (model) => {
          // Only the taped model's backend tape counts: the other steps through it too.
          if ((model as unknown as { tapeFor: (rows: number) => unknown }).tapeFor(12) === undefined) return;
          other = build(c);
          const { x, y } = batch(c, 12, 99);
          other.trainStep(x, y, { loss: 'mse', optimizer: new SGD(other, { lr: 0.1 }) });
        },
      },
      ...same(2, 2),
    ]);
    other?.dispose();
    // The first step, the other model's, and the step after it.
    expect(recordings).toBe(3);
  });

  it('a new batch size, loss, huber delta, frozen layer or learning rate is followed exactly', () => {
    const { recordings, updates } = run([
      ...same(2),
      { step: { rows: 7, seed: 2 } },
      { step: { rows: 12, seed: 3 } },
      { step: { rows: 12, loss: 'huber', delta: 0.5, seed: 4 } },
      { step: { rows: 12, loss: 'huber', delta: 0.25, seed: 5 } },
      { step: { rows: 12, loss: 'huber', delta: 0.25, seed: 6 } },
      { event: (model) => { model.freeze(1); } },
      { step: { rows: 12, seed: 7 } },
      { event: (model) => { model.layers[0].trainable = false; } },
      { step: { rows: 12, seed: 8 } },
      { event: (model) => { model.unfreeze(); } },
      { step: { rows: 12, seed: 9 } },
      // The update is recorded every step: a new learning rate takes effect at once.
      { event: (_, optimizer) => { optimizer.lr = 0.01; } },
      { step: { rows: 12, seed: 10 } },
      { step: { rows: 12, seed: 11 } },
    ]);
    // Recorded: the first, rows 7, rows 12 again, huber, its new delta, then each trainable change (3,
    // the first back on mse); the repeated huber step and both steps after the new lr ran kept records.
    expect(recordings).toBe(8);
    // And the updates: with each of those, the second step (momentum's first), and the new lr.
    expect(updates).toBe(10);
  });

  it('a new optimizer that moves the model (its state slots) and a refused NaN batch are followed exactly', () => {
    run([
      ...same(2),
      { event: (model) => new Adam(model, { lr: 0.01 }) },
      ...same(2, 5),
      {
        event: (model, optimizer) => {
          const { x, y } = batch(c, 12, 20);
          x[3] = NaN;
          expect(() => model.trainStep(x, y, { loss: 'mse', optimizer })).toThrow(/x holds NaN/);
          const good = batch(c, 12, 21);
          good.y[4] = Infinity;
          expect(() => model.trainStep(good.x, good.y, { loss: 'mse', optimizer })).toThrow(/y holds Infinity/);
        },
      },
      ...same(3, 30),
    ]);
  });

  it('dropout in training mode records every step (new masks); in eval mode steps run the kept records', () => {
    const withDropout: Case = { ...c, dropout: 0.3 };
    const taped = build(withDropout);
    const plain = untaped(build(withDropout));
    const [first, second] = [c.optimizer(taped), c.optimizer(plain)];
    const counter = countRecordings(taped);
    try {
      for (const training of [true, false]) {
        taped.training = plain.training = training;
        for (let step = 0; step < 3; step++) {
          const { x, y } = batch(c, 10, step);
          expect(Object.is(taped.trainStep(x, y, { loss: 'mse', optimizer: first }), plain.trainStep(x, y, { loss: 'mse', optimizer: second }))).toBe(true);
        }
      }
      expect(counter.count).toBe(4);
      taped.namedParameters().forEach((parameter, i) => expect(bits(parameter.value)).toEqual(bits(plain.namedParameters()[i].value)));
    } finally {
      counter.restore();
      taped.dispose();
      plain.dispose();
    }
  });
});

describe('a loop that passes one options object repeats its last call: only the data is new, and any change is followed exactly', () => {
  beforeAll(async () => {
    await init({ backend: 'wasm', threads: 1 });
  });

  const c: Case = { name: 'repeat', widths: [5, 9, 7, 3], activation: 'tanh', loss: 'mse', optimizer: (m) => new SGD(m, { lr: 0.05, momentum: 0.9 }) };

  // Counts the steps that took the repeated call's path (Staging.copyPlain).
  function countRepeats(model: Sequential): { count: number } {
    const staging = (model as unknown as { staging: { copyPlain: (...args: unknown[]) => void } }).staging;
    const copy = staging.copyPlain.bind(staging);
    const counter = { count: 0 };
    staging.copyPlain = (...args: unknown[]) => {
      counter.count++;
      copy(...args);
    };
    return counter;
  }

  it('follows new losses, deltas, clipping, batch sizes, frozen layers, lr, optimizers, modes, evaluate and bad batches', () => {
    const taped = build(c);
    const plain = untaped(build(c));
    const optimizers = [c.optimizer(taped), c.optimizer(plain)];
    // The taped model's one options object, changed in place as a training loop might; the plain
    // model gets a fresh copy each call, so it takes the general path every time.
    const options: { loss: LossName; optimizer: Optimizer; delta?: number; clipNorm?: number } = { loss: 'mse', optimizer: optimizers[0] };
    const repeats = countRepeats(taped);
    let seed = 0;
    const step = (rows = 12, expectRepeat?: boolean) => {
      const { x, y } = batch(c, rows, seed++);
      const before = repeats.count;
      const a = taped.trainStep(x, y, options);
      const b = plain.trainStep(x, y, { ...options, optimizer: optimizers[1] });
      expect(Number.isFinite(a)).toBe(true);
      expect(Object.is(a, b)).toBe(true);
      if (expectRepeat !== undefined) expect(repeats.count - before).toBe(expectRepeat ? 1 : 0);
    };
    const both = (change: (model: Sequential, optimizer: Optimizer, k: number) => void) => {
      change(taped, optimizers[0], 0);
      change(plain, optimizers[1], 1);
    };
    try {
      step(12, false);
      step(12, true);
      step(12, true);
      options.loss = 'huber';
      step(12, false);
      step(12, true);
      options.delta = 0.25;
      step(12, false);
      step(12, true);
      options.clipNorm = 0.5;
      step(12, false);
      step(12, true);
      delete options.clipNorm;
      step(12, false);
      step(7, false);
      step(7, true);
      step(12, false);
      both((model) => model.freeze(1));
      step(12, false);
      step(12, true);
      both((model) => { model.layers[0].trainable = false; });
      step(12, false);
      both((model) => model.unfreeze());
      step(12, false);
      // The update is recorded each step from here: the repeated call records it after the kept records.
      both((_, optimizer) => { optimizer.lr = 0.01; });
      step(12, true);
      step(12, true);
      both((model, _, k) => { optimizers[k] = new Adam(model, { lr: 0.01 }); });
      options.optimizer = optimizers[0];
      step(12, false);
      step(12, true);
      both((model) => model.eval());
      step(12, false);
      step(12, true);
      both((model) => model.train());
      step(12, false);
      // evaluate reads its own loss: the next step reads the step's again.
      const probe = batch(c, 9, 99);
      both((model) => { model.evaluate(probe.x, probe.y, { loss: 'mse' }); });
      step(12, false);
      step(12, true);
      // Bad batches on what would be a repeated call: the same errors, and nothing moves.
      const nan = batch(c, 12, 100);
      nan.x[3] = NaN;
      expect(() => taped.trainStep(nan.x, nan.y, options)).toThrow(/x holds NaN/);
      const short = batch(c, 12, 101);
      const message = (() => {
        try {
          plain.trainStep(short.x, short.y.subarray(1), { ...options, optimizer: optimizers[1] });
        } catch (error) {
          return (error as Error).message;
        }
        throw new Error('the plain model took a short y');
      })();
      expect(() => taped.trainStep(short.x, short.y.subarray(1), options)).toThrow(message);
      // x one row short with y whole: the rows disagree.
      expect(() => taped.trainStep(short.x.subarray(5), short.y, options)).toThrow(/y must have 11 rows/);
      // An optimizer made for another model.
      const stranger = build(c);
      options.optimizer = new SGD(stranger, { lr: 0.1 });
      expect(() => taped.trainStep(short.x, short.y, options)).toThrow(/optimizer must be an optimizer made for this model/);
      options.optimizer = optimizers[0];
      stranger.dispose();
      expect(() => taped.trainStep(short.x, short.y, undefined as unknown as typeof options)).toThrow(SimdpropError);
      step(12, false);
      step(12, true);
      // A second optimizer made (its state slots move the model's memory) but not used: records anew.
      both((model) => { new Adam(model, { lr: 0.01 }); });
      step(12, false);
      step(12, true);
      // Another model stepping on the same tape in between: the next call records anew.
      const other = build(c);
      const { x, y } = batch(c, 12, 200);
      other.trainStep(x, y, { loss: 'mse', optimizer: new SGD(other, { lr: 0.1 }) });
      other.dispose();
      step(12, false);
      step(12, true);
      const [p, q] = [taped.namedParameters(), plain.namedParameters()];
      p.forEach((parameter, i) => {
        expect(bits(parameter.value)).toEqual(bits(q[i].value));
        expect(bits(parameter.grad)).toEqual(bits(q[i].grad));
      });
      expect(optimizers[0].stepCount).toBe(optimizers[1].stepCount);
      taped.dispose();
      expect(() => taped.trainStep(x, y, options)).toThrow(/disposed/);
    } finally {
      taped.dispose();
      plain.dispose();
    }
  });
});

// Property tests of the threaded kernels: GEMMs large enough to be split (M·K·N ≥ 2^19, M ≥ 8) and
// optimizer updates over n ≥ 65,536 parameters give the same bits on 2 and 3 threads as on one, for
// random shapes, offsets, hyper-parameters and values (NaN and ±Infinity included), on both wasm builds.
// Replay a run: SIMDPROP_FUZZ_SEED=<seed it printed> npx vitest run test/fuzz/threads.fuzz.test.ts
// One failing case alone: add SIMDPROP_FUZZ_PATH=<path in the failure> and -t '<the property's name>'.
import fc from 'fast-check';
import { afterAll, assert, describe, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { gemmScratchBytes } from '../../src/backend/kernels.js';
import { createWasmBackend } from '../../src/backend/wasm/index.js';
import { createRandom } from '../random.js';
import { adamSettings, announceSeed, check, dimension, fuzzValues, rmspropSettings, sgdSettings, valueProfile } from './fuzz.js';

const FILE = 'test/fuzz/threads.fuzz.test.ts';
announceSeed(FILE);

/** The threshold src/threads/threaded.ts splits GEMMs at (M·K·N multiply-adds), and optimizer updates (parameters). */
const MIN_SPLIT_MACS = 1 << 19;
const MIN_SPLIT_PARAMS = 1 << 16;
const THREAD_COUNTS = [1, 2, 3];

const builds = await Promise.all([false, true].map(async (relaxed) => ({
  relaxed,
  backends: await Promise.all(THREAD_COUNTS.map((threads) => createWasmBackend({ threads, relaxed }))),
})));
afterAll(() => builds.forEach(({ backends }) => backends.forEach((backend) => backend.close())));

/** Asserts two runs gave the same bits, any NaN matching any NaN (the contract leaves payloads open). */
function expectSameBits(actual: Float32Array, expected: Float32Array, what: string): void {
  const actualBits = new Int32Array(actual.buffer, actual.byteOffset, actual.length);
  const expectedBits = new Int32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actualBits[i] === expectedBits[i] || (Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) continue;
    assert.fail(`${what}: element ${i} of ${expected.length} is ${actual[i]}, with one thread ${expected[i]}`);
  }
}

/**
 * Runs `kernel` on every thread count of every build with the same buffers (allocated `misalignment`
 * elements past the heap's 64-byte alignment, filled from `values`) and checks every output against one
 * thread's.
 */
function sameOnEveryThreadCount(
  what: string, misalignment: number, values: Float32Array[], outputs: number[],
  kernel: (backend: Backend, at: number[]) => void,
): void {
  for (const { relaxed, backends } of builds) {
    const results = backends.map((backend) => {
      const { heap } = backend;
      const blocks = values.map((buffer) => heap.alloc((buffer.length + misalignment) * 4));
      const at = blocks.map((block, i) => {
        const offset = block + misalignment * 4;
        heap.f32.set(values[i], offset >> 2);
        return offset;
      });
      try {
        kernel(backend, at);
        return outputs.map((i) => heap.f32.slice(at[i] >> 2, (at[i] >> 2) + values[i].length));
      } finally {
        blocks.forEach((block) => heap.free(block));
      }
    });
    results.slice(1).forEach((result, t) => result.forEach((output, o) =>
      expectSameBits(output, results[0][o], `${relaxed ? 'relaxed' : 'simd128'} ${what}, buffer ${outputs[o]} on ${THREAD_COUNTS[t + 1]} threads`)));
  }
}

const valuesCase = {
  // NaN and ±Infinity too: whatever the values, every output element is the same code in the same order.
  profile: valueProfile({ huge: true, specials: true }),
  data: fc.integer(),
  misalignment: fc.integer({ min: 0, max: 3 }),
};

// ---- GEMM ----

// tn = writes the product over NaN; the other tn layouts add it to start values.
type Layout = 'nn' | 'nn with bias' | 'nt' | 'tn' | 'tn with lda > M' | 'tn =';
const LAYOUTS: Layout[] = ['nn', 'nn with bias', 'nt', 'tn', 'tn with lda > M', 'tn ='];

const gemmCase = fc.record({
  dims: fc.tuple(dimension, dimension, dimension).filter(([M, K, N]) => M >= 8 && M * K * N >= MIN_SPLIT_MACS),
  ldaExtra: fc.integer({ min: 1, max: 300 }),
  first: fc.nat(),
  ...valuesCase,
});

function compareGemm(layout: Layout, c: typeof gemmCase extends fc.Arbitrary<infer T> ? T : never): void {
  const [M, K, N] = c.dims;
  const transposed = layout === 'tn' || layout === 'tn with lda > M' || layout === 'tn =';
  const lda = layout === 'tn with lda > M' ? M + c.ldaExtra : M;
  const first = layout === 'tn with lda > M' ? c.first % (c.ldaExtra + 1) : 0;
  const random = createRandom(`threads gemm ${layout} ${c.data}`);
  const left = fuzzValues(random, K * (transposed ? lda : M), c.profile);
  const right = fuzzValues(random, K * N, c.profile);
  const bias = fuzzValues(random, N, c.profile);
  // NaN-filled where every element is written; the start values where tn accumulates.
  const out = transposed && layout !== 'tn =' ? fuzzValues(random, M * N, c.profile) : new Float32Array(M * N).fill(NaN);
  const scratch = new Float32Array(gemmScratchBytes(K, M) / 4).fill(NaN);
  const what = `gemm ${layout} M=${M} K=${K} N=${N}${transposed ? ` lda=${lda} first=${first}` : ''} misaligned by ${c.misalignment}`;
  sameOnEveryThreadCount(what, c.misalignment, [out, left, right, bias, scratch], [0], ({ kernels }, [outAt, leftAt, rightAt, biasAt, scratchAt]) => {
    if (layout === 'nn') kernels.gemm_nn(outAt, leftAt, rightAt, 0, M, K, N, scratchAt);
    else if (layout === 'nn with bias') kernels.gemm_nn(outAt, leftAt, rightAt, biasAt, M, K, N, scratchAt);
    else if (layout === 'nt') kernels.gemm_nt(outAt, leftAt, rightAt, M, K, N, 0, scratchAt);
    else kernels.gemm_tn(outAt, leftAt + first * 4, rightAt, M, K, N, lda, layout === 'tn =' ? 0 : 1, scratchAt);
  });
}

describe('threaded GEMM: 2 and 3 threads give the bits of one', () => {
  it.each(LAYOUTS)('%s', (layout) => check(gemmCase, (c) => compareGemm(layout, c), 80));
});

// ---- optimizer updates ----

/** Parameter counts from the split threshold up: odd ones, ones just past a multiple of 16 (a share's size), and any. */
const parameterCount = fc.oneof(
  fc.integer({ min: MIN_SPLIT_PARAMS / 2, max: (3 * MIN_SPLIT_PARAMS) / 2 }).map((half) => 2 * half + 1),
  fc.tuple(fc.integer({ min: MIN_SPLIT_PARAMS / 16, max: MIN_SPLIT_PARAMS / 4 }), fc.integer({ min: -1, max: 15 })).map(([blocks, extra]) => 16 * blocks + extra),
  fc.integer({ min: MIN_SPLIT_PARAMS, max: 3 * MIN_SPLIT_PARAMS }),
);

const sgdCase = fc.record({ n: parameterCount, settings: sgdSettings, firstStep: fc.constantFrom(0, 1), ...valuesCase });
const adamCase = fc.record({ n: parameterCount, settings: adamSettings, ...valuesCase });
const rmspropCase = fc.record({ n: parameterCount, settings: rmspropSettings, ...valuesCase });

describe('threaded optimizer updates: 2 and 3 threads give the bits of one', () => {
  it('sgd_update', () => check(sgdCase, (c) => {
    const { n, settings: { lr, momentum, dampening, nesterov, weightDecay }, firstStep } = c;
    const random = createRandom(`threads sgd ${c.data}`);
    const [params, grads, velocity] = [0, 1, 2].map(() => fuzzValues(random, n, c.profile));
    const buffers = momentum === 0 ? [params, grads] : [params, grads, velocity];
    const what = `sgd_update n=${n} ${JSON.stringify(c.settings)} firstStep=${firstStep}`;
    sameOnEveryThreadCount(what, c.misalignment, buffers, momentum === 0 ? [0] : [0, 2], ({ kernels }, [paramsAt, gradsAt, velocityAt]) =>
      kernels.sgd_update(paramsAt, gradsAt, velocityAt ?? 0, n, lr, momentum, dampening, nesterov, weightDecay, firstStep));
  }, 40));

  it('adam_update', () => check(adamCase, (c) => {
    const { n, settings: { lr, beta1, beta2, eps, weightDecay, decoupled, step } } = c;
    const random = createRandom(`threads adam ${c.data}`);
    const [params, grads, expAvg, expAvgSq] = [0, 1, 2, 3].map(() => fuzzValues(random, n, c.profile));
    const what = `adam_update n=${n} ${JSON.stringify(c.settings)}`;
    sameOnEveryThreadCount(what, c.misalignment, [params, grads, expAvg, expAvgSq.map(Math.abs)], [0, 2, 3], ({ kernels }, at) =>
      kernels.adam_update(at[0], at[1], at[2], at[3], n, lr, beta1, beta2, eps, weightDecay, decoupled, step));
  }, 40));

  it('rmsprop_update', () => check(rmspropCase, (c) => {
    const { n, settings: { lr, alpha, eps, weightDecay, momentum, centered } } = c;
    const random = createRandom(`threads rmsprop ${c.data}`);
    const [params, grads, squareAvg, gradAvg, momentumBuffer] = [0, 1, 2, 3, 4].map(() => fuzzValues(random, n, c.profile));
    const buffers = [params, grads, squareAvg.map(Math.abs), gradAvg, momentumBuffer];
    const what = `rmsprop_update n=${n} ${JSON.stringify(c.settings)}`;
    sameOnEveryThreadCount(what, c.misalignment, buffers, [0, 2, 3, 4], ({ kernels }, at) =>
      kernels.rmsprop_update(at[0], at[1], at[2], centered ? at[3] : 0, momentum > 0 ? at[4] : 0, n,
        lr, alpha, eps, weightDecay, momentum, centered));
  }, 40));
});

// Property tests of the kernel contract: every kernel on both wasm builds (baseline SIMD and relaxed)
// against its JS twin over random shapes (each dimension 1…300, biased to odd sizes and SIMD tails) and
// values reaching ±0, subnormals, huge magnitudes and, where the contract defines them, NaN and
// ±Infinity; outputs start as NaN between guards (the harness's Buffers), buffers are misaligned by
// 0–3 elements, and the tolerances are the kernel tests' named policies.
// Replay a run: SIMDPROP_FUZZ_SEED=<seed it printed> npx vitest run test/fuzz/kernels.fuzz.test.ts
// One failing case alone: add SIMDPROP_FUZZ_PATH=<path in the failure> and -t '<the property's name>'.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gemm_nn, gemm_nt, gemm_tn } from '../../src/backend/js/gemm.js';
import { gemmScratchBytes, type Kernels } from '../../src/backend/kernels.js';
import { GELU, leakyRelu, RELU, SIGMOID, TANH, type Activation } from '../activation_cases.js';
import { createBackendPair, onBackend, type Buffers } from '../harness.js';
import { createRandom, randomLabels, toTargetRows, type Random } from '../random.js';
import {
  chainRule, EXP_UNDERFLOW, exact, expectClose, FLOAT32_EPSILON, fewRoundings, largestMagnitude,
  meanOfTerms, mixed, relative, scaled, softmaxUlps, type Tolerance,
} from '../tolerance.js';
import {
  adamSettings, announceSeed, boundedDimensions, check, dimension, doubleScalar, elementCount, fuzzUnitValues, fuzzValues,
  perElement, rmspropSettings, sgdSettings, valueProfile, withUnderflow, type ValueProfile,
} from './fuzz.js';
import { adamBounds, rmspropBounds, rmspropStep } from '../optimizer_bounds.js';

const FILE = 'test/fuzz/kernels.fuzz.test.ts';
announceSeed(FILE);
const pair = await createBackendPair();
const BUILDS = ['wasm', 'relaxed'] as const;

/** Runs the case with fresh guarded buffers on js and on each wasm build, and compares each build with js. */
function againstJs<T>(
  runCase: (kernels: Kernels, buffers: Buffers) => T,
  misalignment: number,
  compare: (actual: T, expected: T, build: string) => void,
): void {
  const expected = onBackend(pair.js, runCase, misalignment);
  for (const build of BUILDS) compare(onBackend(pair[build], runCase, misalignment), expected, pair[build].description);
}

/** What every case draws besides its shape: the stream its values come from, and how far off alignment its buffers sit. */
const dataAndAlignment = { data: fc.integer(), misalignment: fc.integer({ min: 0, max: 3 }) };

function randomFor(kernel: string, data: number): Random {
  return createRandom(`${kernel} ${data}`);
}

function misaligned(misalignment: number): string {
  return misalignment ? ` misaligned by ${misalignment}` : '';
}

// ---- GEMM ----

/** float32 dot products may differ by this many ulps of Σ|a·b| between summation orders (gemm.test.ts). */
const GEMM_ULPS = 16;
/** Multiply-adds per case at most: the JS twin and the float64 magnitudes take about 10 ms there. */
const MAX_GEMM_WORK = 1 << 20;

// tn and tn with lda > M accumulate onto start values ("+="); tn = writes over NaN ("=").
type Layout = 'nn' | 'nn with bias' | 'nt' | 'tn' | 'tn with lda > M' | 'tn =';
const LAYOUTS: Layout[] = ['nn', 'nn with bias', 'nt', 'tn', 'tn with lda > M', 'tn ='];

const gemmCase = fc.record({
  dims: boundedDimensions(3, MAX_GEMM_WORK),
  profile: valueProfile({ huge: true }),
  // Huge values go into one operand only: two of them would overflow the product, which no twin defines.
  hugeOperand: fc.constantFrom('left', 'right', 'addend'),
  // tn with lda > M: a is [K × lda] and the product reads its columns first…first + M − 1, as a thread's block.
  ldaExtra: fc.integer({ min: 1, max: 300 }),
  first: fc.nat(),
  ...dataAndAlignment,
});
type GemmCase = typeof gemmCase extends fc.Arbitrary<infer T> ? T : never;

/** Σ|terms| of each output element: the same product, by the float64 twin, over absolute values. */
function termMagnitudes(
  layout: Layout, M: number, K: number, N: number, lda: number, first: number,
  left: Float32Array, right: Float32Array, addend: Float32Array,
): Float64Array {
  const rightIndex = left.length;
  const addendIndex = rightIndex + right.length;
  const outIndex = addendIndex + addend.length;
  const m = new Float64Array(outIndex + M * N);
  m.set(left.map(Math.abs), 0);
  m.set(right.map(Math.abs), rightIndex);
  m.set(addend.map(Math.abs), addendIndex);
  if (layout === 'tn' || layout === 'tn with lda > M') {
    m.copyWithin(outIndex, addendIndex, outIndex);
    gemm_tn(m, outIndex, first, rightIndex, M, K, N, lda, 1);
  } else if (layout === 'tn =') {
    gemm_tn(m, outIndex, first, rightIndex, M, K, N, lda, 0);
  } else if (layout === 'nt') {
    gemm_nt(m, outIndex, 0, rightIndex, M, K, N, 0);
  } else {
    gemm_nn(m, outIndex, 0, rightIndex, layout === 'nn' ? -1 : addendIndex, M, K, N);
  }
  return m.subarray(outIndex);
}

function compareGemm(layout: Layout, c: GemmCase): void {
  const [M, K, N] = c.dims;
  const transposed = layout === 'tn' || layout === 'tn with lda > M' || layout === 'tn =';
  const lda = layout === 'tn with lda > M' ? M + c.ldaExtra : M;
  const first = layout === 'tn with lda > M' ? c.first % (c.ldaExtra + 1) : 0;
  const random = randomFor(`gemm ${layout}`, c.data);
  const profileOf = (operand: string): ValueProfile => (c.hugeOperand === operand ? c.profile : { ...c.profile, huge: false });
  const left = fuzzValues(random, K * (transposed ? lda : M), profileOf('left'));
  const right = fuzzValues(random, K * N, profileOf('right'));
  // The bias of nn, or the values tn accumulates onto.
  const addend = fuzzValues(random, transposed ? M * N : N, profileOf('addend'));
  const what = `gemm ${layout} M=${M} K=${K} N=${N}${transposed ? ` lda=${lda} first=${first}` : ''}${misaligned(c.misalignment)}`;

  const runCase = (kernels: Kernels, buffers: Buffers): Float32Array => {
    const leftAt = buffers.input(left);
    const rightAt = buffers.input(right);
    // Scratch starts as NaN: a kernel reading scratch it had not written would show it.
    const scratch = buffers.output(gemmScratchBytes(K, M) / 4);
    if (transposed) {
      // Written over NaN, or added onto the start values.
      const write = layout === 'tn =';
      const out = write ? buffers.output(M * N) : buffers.output(M * N, addend);
      kernels.gemm_tn(out, leftAt + first * 4, rightAt, M, K, N, lda, write ? 0 : 1, scratch);
      return buffers.read(out);
    }
    const out = buffers.output(M * N);
    if (layout === 'nt') kernels.gemm_nt(out, leftAt, rightAt, M, K, N, 0, scratch);
    else kernels.gemm_nn(out, leftAt, rightAt, layout === 'nn' ? 0 : buffers.input(addend), M, K, N, scratch);
    return buffers.read(out);
  };
  // K products and K + 1 sums, each of which may round a subnormal.
  const tolerance = withUnderflow(scaled(termMagnitudes(layout, M, K, N, lda, first, left, right, addend), GEMM_ULPS), 2 * K + 2);
  againstJs(runCase, c.misalignment, (actual, expected, build) => expectClose(actual, expected, tolerance, `${build} ${what}`));
}

describe('gemm: both wasm builds against js', () => {
  it.each(LAYOUTS)('%s', (layout) => check(gemmCase, (c) => compareGemm(layout, c), 200));
});

// ---- activations ----

// As test/kernels/<name>.test.ts describe them (test/activation_cases.ts).
const ACTIVATIONS: Activation[] = [RELU, SIGMOID, TANH, GELU];

// Every activation is finite at ±1e30 and so is its derivative, so huge pre-activations are fair game.
const activationCase = fc.record({
  n: elementCount,
  profile: valueProfile({ huge: true }),
  // PyTorch's default 0.01 (not a float32), 0.25 (one), 0, or any slope in [0, 1], float32 or double.
  slope: fc.oneof(fc.constantFrom(0.01, 0.25, 0), fc.float({ min: 0, max: 1, noNaN: true }), doubleScalar(1, false)),
  ...dataAndAlignment,
});
type ActivationCase = typeof activationCase extends fc.Arbitrary<infer T> ? T : never;

function compareActivation(activation: Activation, c: ActivationCase): void {
  const { n, misalignment } = c;
  const random = randomFor(activation.name, c.data);
  const z = fuzzValues(random, n, c.profile, { scale: activation.inputScale });
  const upstream = fuzzValues(random, n, c.profile);
  const what = `${activation.name} n=${n}${misaligned(misalignment)}`;
  const forward = (kernels: Kernels, buffers: Buffers): Float32Array => {
    const out = buffers.output(n);
    activation.forward(kernels, out, buffers.input(z), n);
    return buffers.read(out);
  };
  // One product may round a subnormal result.
  const forwardTolerance = withUnderflow(activation.forwardTolerance, 1);
  againstJs(forward, misalignment, (actual, expected, build) => expectClose(actual, expected, forwardTolerance, `${build} ${what} forward`));

  // Backward reads z itself or a = the JS forward output of z, on every side.
  const source = activation.backwardFrom === 'preactivation' ? z : onBackend(pair.js, forward);
  const backward = (kernels: Kernels, buffers: Buffers): Float32Array => {
    const sourceAt = buffers.input(source);
    const outOfPlace = buffers.output(n);
    activation.backward(kernels, outOfPlace, buffers.input(upstream), sourceAt, n);
    const inPlace = buffers.output(n, upstream);
    activation.backward(kernels, inPlace, inPlace, sourceAt, n);
    const result = buffers.read(outOfPlace);
    expectClose(buffers.read(inPlace), result, exact, `${buffers.backend.description} ${what} backward in place against out of place`);
    return result;
  };
  const backwardTolerance = withUnderflow(chainRule(upstream), 2);
  againstJs(backward, misalignment, (actual, expected, build) => expectClose(actual, expected, backwardTolerance, `${build} ${what} backward`));
}

describe('activations forward and backward (also in place): both wasm builds against js', () => {
  it.each(ACTIVATIONS.map((activation) => [activation.name, activation] as const))('%s', (_name, activation) =>
    check(activationCase, (c) => compareActivation(activation, c), 250));
  it('leaky_relu, any slope in [0, 1]', () => check(activationCase, (c) => compareActivation(leakyRelu(c.slope), c), 250));
});

// ---- softmax and softmax cross-entropy (rows × cols) ----

/** Logits mostly within ±12, some up to ±96, as the kernel tests draw them; huge ones reach ±2e30. */
const LOGIT_SCALE = 12;

const rowsCase = fc.record({
  shape: boundedDimensions(2, 300 * 300),
  profile: valueProfile({ huge: true }),
  ...dataAndAlignment,
});
type RowsCase = typeof rowsCase extends fc.Arbitrary<infer T> ? T : never;

/** The largest |value| of each row: the operand size softmax's error grows with is its row's. */
function rowMagnitudes(values: Float32Array, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows }, (_, r) => largestMagnitude(values.subarray(r * cols, (r + 1) * cols)));
}

/** The softmax forward policy of softmax.test.ts, with each row's own largest logit. */
function softmaxTolerance(logits: Float32Array, rows: number, cols: number): Tolerance {
  const largest = rowMagnitudes(logits, rows, cols);
  const byRow = Array.from(largest, (magnitude) => mixed(EXP_UNDERFLOW, softmaxUlps(cols, magnitude) * FLOAT32_EPSILON));
  return perElement('softmax policy of each row', (index) => byRow[Math.floor(index / cols)]);
}

/** dz_i = a_i(da_i − Σ_j da_j a_j) rounds with a_i·(|da_i| + Σ_j |da_j a_j|) (softmax.test.ts). */
function softmaxBackwardScales(upstream: Float32Array, probabilities: Float32Array, rows: number, cols: number): Float64Array {
  const scales = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let absoluteDot = 0;
    for (let j = 0; j < cols; j++) absoluteDot += Math.abs(upstream[r * cols + j] * probabilities[r * cols + j]);
    for (let j = 0; j < cols; j++) scales[r * cols + j] = probabilities[r * cols + j] * (Math.abs(upstream[r * cols + j]) + absoluteDot);
  }
  return scales;
}

function compareSoftmax(c: RowsCase): void {
  const [rows, cols] = c.shape;
  const n = rows * cols;
  const random = randomFor('softmax', c.data);
  const logits = fuzzValues(random, n, c.profile, { scale: LOGIT_SCALE });
  const upstream = fuzzValues(random, n, c.profile);
  const what = `softmax rows=${rows} cols=${cols}${misaligned(c.misalignment)}`;
  const forward = (kernels: Kernels, buffers: Buffers): Float32Array => {
    const out = buffers.output(n);
    kernels.softmax_forward(out, buffers.input(logits), rows, cols);
    return buffers.read(out);
  };
  const forwardTolerance = softmaxTolerance(logits, rows, cols);
  againstJs(forward, c.misalignment, (actual, expected, build) => expectClose(actual, expected, forwardTolerance, `${build} ${what} forward`));

  const probabilities = onBackend(pair.js, forward);
  const backward = (kernels: Kernels, buffers: Buffers): Float32Array => {
    const a = buffers.input(probabilities);
    const outOfPlace = buffers.output(n);
    kernels.softmax_backward(outOfPlace, buffers.input(upstream), a, rows, cols);
    const inPlace = buffers.output(n, upstream);
    kernels.softmax_backward(inPlace, inPlace, a, rows, cols);
    const result = buffers.read(outOfPlace);
    expectClose(buffers.read(inPlace), result, exact, `${buffers.backend.description} ${what} backward in place against out of place`);
    return result;
  };
  // cols products and sums in the dot, a difference and a product, any of which may round a subnormal.
  const backwardTolerance = withUnderflow(scaled(softmaxBackwardScales(upstream, probabilities, rows, cols), cols + 16), 2 * cols + 2);
  againstJs(backward, c.misalignment, (actual, expected, build) => expectClose(actual, expected, backwardTolerance, `${build} ${what} backward`));
}

/** Soft target rows, each a probability distribution; every third row one-hot. */
function targetRows(random: Random, rows: number, cols: number, profile: ValueProfile): Float32Array {
  return toTargetRows(fuzzUnitValues(random, rows * cols, profile), random, rows, cols);
}

function compareSoftmaxCrossEntropy(targetsKind: 'labels' | 'targets', c: RowsCase): void {
  const [rows, cols] = c.shape;
  const n = rows * cols;
  const random = randomFor(`softmax_cross_entropy_${targetsKind}`, c.data);
  const logits = fuzzValues(random, n, c.profile, { scale: LOGIT_SCALE });
  const labels = randomLabels(random, rows, cols);
  const targets = targetRows(random, rows, cols, c.profile);
  const what = `softmax_cross_entropy_${targetsKind} rows=${rows} cols=${cols}${misaligned(c.misalignment)}`;
  const runCase = (kernels: Kernels, buffers: Buffers) => {
    const grad = buffers.output(n);
    const loss = targetsKind === 'labels'
      ? kernels.softmax_cross_entropy_labels(grad, buffers.input(logits), buffers.labels(labels), rows, cols)
      : kernels.softmax_cross_entropy_targets(grad, buffers.input(logits), buffers.input(targets), rows, cols);
    return { loss, grad: buffers.read(grad) };
  };
  // softmax_cross_entropy.test.ts's policies: gradients are probabilities over rows; the loss adds up
  // rows, each with the error of one lse. The gradient's, like softmax's, with each row's largest logit.
  const rowUlps = Array.from(rowMagnitudes(logits, rows, cols), (magnitude) => softmaxUlps(cols, magnitude));
  const byRow = rowUlps.map((ulps) => withUnderflow(mixed((ulps * FLOAT32_EPSILON) / rows, ulps * FLOAT32_EPSILON), 2));
  const gradTolerance = perElement('softmax cross-entropy gradient policy of each row', (index) => byRow[Math.floor(index / cols)]);
  const ulps = softmaxUlps(cols, largestMagnitude(logits));
  const lossTolerance = mixed(ulps * FLOAT32_EPSILON, (rows + 16) * FLOAT32_EPSILON);
  againstJs(runCase, c.misalignment, (actual, expected, build) => {
    expectClose(actual.grad, expected.grad, gradTolerance, `${build} ${what} grad`);
    expectClose(actual.loss, expected.loss, lossTolerance, `${build} ${what} loss`);
  });
}

describe('softmax and softmax cross-entropy: both wasm builds against js', () => {
  it('softmax forward, and backward out of place and in place', () => check(rowsCase, compareSoftmax, 250));
  it('softmax_cross_entropy_labels', () => check(rowsCase, (c) => compareSoftmaxCrossEntropy('labels', c), 250));
  it('softmax_cross_entropy_targets', () => check(rowsCase, (c) => compareSoftmaxCrossEntropy('targets', c), 250));
});

// ---- pointwise losses ----

interface PointwiseLossCase {
  readonly n: number;
  readonly profile: ValueProfile;
  readonly delta: number;
  readonly data: number;
  readonly misalignment: number;
}

const pointwiseLossCase: fc.Arbitrary<PointwiseLossCase> = fc.record({
  n: elementCount,
  profile: valueProfile({ huge: true }),
  // Huber's threshold: the kernel tests' 1 and 0.5, or any in [1e-3, 100] (mostly not a float32).
  delta: fc.oneof(fc.constantFrom(1, 0.5), fc.double({ min: 1e-3, max: 100, noNaN: true })),
  ...dataAndAlignment,
});

interface PointwiseLoss {
  readonly name: string;
  inputs(random: Random, c: PointwiseLossCase): { predictions: Float32Array; targets: Float32Array };
  run(kernels: Kernels, grad: number, predictions: number, targets: number, c: PointwiseLossCase): number;
  /** The policies of test/kernels/<loss>.test.ts. */
  tolerances(c: PointwiseLossCase, predictions: Float32Array): { grad: Tolerance; loss: Tolerance };
}

const POINTWISE_LOSSES: PointwiseLoss[] = [
  {
    name: 'bce',
    // Probabilities in [0, 1] with exact 0s and 1s, where the clamps act, and subnormal ones.
    inputs: (random, c) => ({ predictions: fuzzUnitValues(random, c.n, c.profile), targets: fuzzUnitValues(random, c.n, c.profile) }),
    run: (kernels, grad, probs, targets, c) => kernels.bce(grad, probs, targets, c.n),
    tolerances: (c) => ({ grad: withUnderflow(fewRoundings, 3), loss: meanOfTerms(c.n) }),
  },
  {
    name: 'bce_with_logits',
    // Logits mostly within ±4, some up to ±32, huge ones ±2e30: the stable form is finite for any.
    inputs: (random, c) => ({
      predictions: fuzzValues(random, c.n, c.profile, { scale: 4 }), targets: fuzzUnitValues(random, c.n, c.profile),
    }),
    run: (kernels, grad, logits, targets, c) => kernels.bce_with_logits(grad, logits, targets, c.n),
    tolerances: (c, logits) => ({
      grad: withUnderflow(mixed((16 * FLOAT32_EPSILON) / c.n, 8 * FLOAT32_EPSILON), 2),
      loss: meanOfTerms(c.n, (16 + 4 * largestMagnitude(logits)) * FLOAT32_EPSILON),
    }),
  },
  {
    name: 'mse',
    // Huge differences stay below 1.8e19: beyond it (p − y)² leaves float32, the loss with it.
    inputs: (random, c) => ({
      predictions: fuzzValues(random, c.n, c.profile, { huge: 4e18 }), targets: fuzzValues(random, c.n, c.profile, { huge: 4e18 }),
    }),
    run: (kernels, grad, predictions, targets, c) => kernels.mse(grad, predictions, targets, c.n),
    tolerances: (c) => ({ grad: withUnderflow(fewRoundings, 2), loss: meanOfTerms(c.n) }),
  },
  {
    name: 'huber',
    inputs: (random, c) => ({ predictions: fuzzValues(random, c.n, c.profile), targets: fuzzValues(random, c.n, c.profile) }),
    run: (kernels, grad, predictions, targets, c) => kernels.huber(grad, predictions, targets, c.n, c.delta),
    tolerances: (c) => ({ grad: withUnderflow(fewRoundings, 2), loss: meanOfTerms(c.n) }),
  },
];

function comparePointwiseLoss(loss: PointwiseLoss, c: PointwiseLossCase): void {
  const { predictions, targets } = loss.inputs(randomFor(loss.name, c.data), c);
  const what = `${loss.name} n=${c.n}${loss.name === 'huber' ? ` delta=${c.delta}` : ''}${misaligned(c.misalignment)}`;
  const runCase = (kernels: Kernels, buffers: Buffers) => {
    const grad = buffers.output(c.n);
    const value = loss.run(kernels, grad, buffers.input(predictions), buffers.input(targets), c);
    return { value, grad: buffers.read(grad) };
  };
  const tolerances = loss.tolerances(c, predictions);
  againstJs(runCase, c.misalignment, (actual, expected, build) => {
    expectClose(actual.grad, expected.grad, tolerances.grad, `${build} ${what} grad`);
    expectClose(actual.value, expected.value, tolerances.loss, `${build} ${what} loss`);
  });
}

describe('pointwise losses: both wasm builds against js', () => {
  it.each(POINTWISE_LOSSES.map((loss) => [loss.name, loss] as const))('%s', (_name, loss) =>
    check(pointwiseLossCase, (c) => comparePointwiseLoss(loss, c), 300));
});

// ---- reductions ----

/** Column sums in float32 may differ by this many ulps of Σ|terms| between summation orders (reduce.test.ts). */
const SUM_ULPS = 16;
/** Squares are exact in float64; only the order of the float64 additions may differ (reduce.test.ts). */
const FLOAT64_SUM = relative(1e-12);

function compareBiasGrad(c: RowsCase): void {
  const [rows, cols] = c.shape;
  const random = randomFor('bias_grad', c.data);
  const dz = fuzzValues(random, rows * cols, c.profile);
  const start = fuzzValues(random, cols, c.profile);
  const what = `bias_grad rows=${rows} cols=${cols}${misaligned(c.misalignment)}`;
  const termMagnitudes = Float64Array.from(start, Math.abs);
  for (let i = 0; i < rows * cols; i++) termMagnitudes[i % cols] += Math.abs(dz[i]);
  const tolerance = withUnderflow(scaled(termMagnitudes, SUM_ULPS), rows + 2);
  againstJs((kernels, buffers) => {
    const db = buffers.output(cols, start);
    kernels.bias_grad(db, buffers.input(dz), rows, cols, 1);
    return buffers.read(db);
  }, c.misalignment, (actual, expected, build) => expectClose(actual, expected, tolerance, `${build} ${what}`));
}

const wholeRangeCase = fc.record({ n: elementCount, profile: valueProfile({ huge: true, specials: true }), ...dataAndAlignment });
type WholeRangeCase = typeof wholeRangeCase extends fc.Arbitrary<infer T> ? T : never;

function compareSumSquares(c: WholeRangeCase): void {
  // Σ x² is formed in float64 on both sides: ±2e30 squared is finite there. NaN and ±Infinity are not defined.
  const x = fuzzValues(randomFor('sum_squares', c.data), c.n, { ...c.profile, specials: false });
  againstJs((kernels, buffers) => kernels.sum_squares(buffers.input(x), c.n), c.misalignment, (actual, expected, build) =>
    expectClose(actual, expected, FLOAT64_SUM, `${build} sum_squares n=${c.n}${misaligned(c.misalignment)}`));
}

function compareCountNonfinite(c: WholeRangeCase): void {
  // Huge values up to 3.4e38 (the largest float32 is 3.40282e38): finite, however large.
  const x = fuzzValues(randomFor('count_nonfinite', c.data), c.n, c.profile, { huge: 1.7e38 });
  const count = x.filter((value) => !Number.isFinite(value)).length;
  againstJs((kernels, buffers) => kernels.count_nonfinite(buffers.input(x), c.n), c.misalignment, (actual, expected, build) => {
    const what = `${build} count_nonfinite n=${c.n}${misaligned(c.misalignment)}`;
    expectClose(actual, expected, exact, what);
    expect(expected, what).toBe(count);
  });
}

describe('reductions: both wasm builds against js', () => {
  it('bias_grad accumulates onto db', () => check(rowsCase, compareBiasGrad, 300));
  it('sum_squares', () => check(wholeRangeCase, compareSumSquares, 500));
  it('count_nonfinite, with NaN, ±Infinity and the largest finite magnitudes', () => check(wholeRangeCase, compareCountNonfinite, 500));
});

// ---- elementwise ----

/**
 * cancellingArithmetic (elementwise.test.ts, sgd.test.ts) with each element's own largest operand: the
 * kernel is elementwise, so is its error. cancellingArithmetic(m) allows 8ε·m + 8ε·|expected|, which is
 * scaled(m + |expected|, 8) element by element.
 */
function cancellingPerElement(largestOperand: ArrayLike<number>, expected: ArrayLike<number>): Tolerance {
  const scales = Float64Array.from(largestOperand, (operand, i) => operand + Math.abs(expected[i]));
  return { ...scaled(scales, 8), description: 'cancellingArithmetic of each element' };
}

/** A float32 scalar (any, subnormals and huge ones included), or a double in ±8 that float32 rounds. */
const scalar = fc.oneof(fc.float({ noNaN: true, noDefaultInfinity: true }), doubleScalar(8));
/** An axpy factor: a float32 or a double, within ±8 so that a·x stays finite for |x| ≤ 2e30. */
const factor = fc.oneof(fc.float({ min: -8, max: 8, noNaN: true }), doubleScalar(8));

const elementwiseCase = fc.record({
  n: elementCount,
  profile: valueProfile({ huge: true, specials: true }),
  // fill takes any number (NaN, ±Infinity and doubles beyond float32 included): the store rounds it.
  value: fc.oneof(fc.float(), fc.double()),
  scalar,
  factor,
  // clamp's bounds, in either order (sorted before use), ±0 and ±Infinity included.
  bounds: fc.tuple(fc.float({ noNaN: true }), fc.float({ noNaN: true })),
  // copy within one buffer: where source and destination start in it.
  shifts: fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 })),
  ...dataAndAlignment,
});
type ElementwiseCase = typeof elementwiseCase extends fc.Arbitrary<infer T> ? T : never;

/** The values of a case without NaN and ±Infinity: the kernels whose contract says nothing of them. */
function finiteValues(name: string, c: ElementwiseCase, count = 1): Float32Array[] {
  const random = randomFor(name, c.data);
  return Array.from({ length: count }, () => fuzzValues(random, c.n, { ...c.profile, specials: false }));
}

function compareFill(c: ElementwiseCase): void {
  againstJs((kernels, buffers) => {
    const x = buffers.output(c.n);
    kernels.fill(x, c.n, c.value);
    return buffers.read(x);
  }, c.misalignment, (actual, expected, build) => expectClose(actual, expected, exact, `${build} fill ${c.value} n=${c.n}`));
}

function compareScale(c: ElementwiseCase): void {
  const [start] = finiteValues('scale', c);
  // A float32 factor times a float32 value rounds once on both sides (elementwise.test.ts); a double
  // factor is rounded to float32 first on the wasm side only.
  const tolerance = Math.fround(c.scalar) === c.scalar ? exact : withUnderflow(fewRoundings, 1);
  againstJs((kernels, buffers) => {
    const x = buffers.output(c.n, start);
    kernels.scale(x, c.n, c.scalar);
    return buffers.read(x);
  }, c.misalignment, (actual, expected, build) => expectClose(actual, expected, tolerance, `${build} scale by ${c.scalar} n=${c.n}${misaligned(c.misalignment)}`));
}

function compareAxpy(c: ElementwiseCase): void {
  const [x, start] = finiteValues('axpy', c, 2);
  const largest = Float64Array.from(start, (y, i) => Math.max(Math.abs(y), Math.abs(c.factor * x[i])));
  againstJs((kernels, buffers) => {
    const y = buffers.output(c.n, start);
    kernels.axpy(y, buffers.input(x), c.n, c.factor);
    return buffers.read(y);
  }, c.misalignment, (actual, expected, build) => {
    const tolerance = withUnderflow(cancellingPerElement(largest, expected), 2);
    expectClose(actual, expected, tolerance, `${build} axpy a=${c.factor} n=${c.n}${misaligned(c.misalignment)}`);
  });
}

function compareCopy(c: ElementwiseCase): void {
  // Any bits are copied as they are, NaN and ±Infinity included; and ranges overlapping either way, like memmove.
  const random = randomFor('copy', c.data);
  const source = fuzzValues(random, c.n, c.profile);
  const [to, from] = c.shifts;
  const block = fuzzValues(random, c.n + 40, c.profile);
  againstJs((kernels, buffers) => {
    const destination = buffers.output(c.n);
    kernels.copy(destination, buffers.input(source), c.n);
    const copied = buffers.read(destination);
    expectClose(copied, source, exact, `${buffers.backend.description} copy n=${c.n}`);
    const within = buffers.output(c.n + 40, block);
    kernels.copy(within + to * 4, within + from * 4, c.n);
    return buffers.read(within);
  }, c.misalignment, (actual, expected, build) => expectClose(actual, expected, exact, `${build} copy within a buffer n=${c.n} from ${from} to ${to}`));
}

function compareClamp(c: ElementwiseCase): void {
  // NaN stays NaN, as the contract says; ±Infinity is clamped like any value.
  const values = fuzzValues(randomFor('clamp', c.data), c.n, c.profile);
  const [low, high] = c.bounds[0] <= c.bounds[1] ? c.bounds : [c.bounds[1], c.bounds[0]];
  const what = `clamp to [${low}, ${high}] n=${c.n}${misaligned(c.misalignment)}`;
  againstJs((kernels, buffers) => {
    const x = buffers.output(c.n, values);
    kernels.clamp(x, c.n, low, high);
    return buffers.read(x);
  }, c.misalignment, (actual, expected, build) => {
    expectClose(actual, expected, exact, `${build} ${what}`);
    expect(expected.every((v, i) => (Number.isNaN(v) ? Number.isNaN(values[i]) : v >= low && v <= high)), what).toBe(true);
  });
}

function compareMul(c: ElementwiseCase): void {
  // A product of two float32s rounds once on both sides, subnormal or overflowing.
  const [a, b] = finiteValues('mul', c, 2);
  againstJs((kernels, buffers) => {
    const out = buffers.output(c.n);
    const bAt = buffers.input(b);
    kernels.mul(out, buffers.input(a), bAt, c.n);
    const inPlace = buffers.output(c.n, a);
    kernels.mul(inPlace, inPlace, bAt, c.n);
    const result = buffers.read(out);
    expectClose(buffers.read(inPlace), result, exact, `${buffers.backend.description} mul in place n=${c.n}`);
    return result;
  }, c.misalignment, (actual, expected, build) => expectClose(actual, expected, exact, `${build} mul n=${c.n}${misaligned(c.misalignment)}`));
}

const dropoutCase = fc.record({
  n: elementCount,
  rate: fc.oneof(fc.constantFrom(0, 0.1, 0.5, 0.9), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
  seed: fc.oneof(fc.integer(), fc.maxSafeInteger()),
  stream: fc.oneof(fc.nat({ max: 1000 }), fc.integer()),
  misalignment: fc.integer({ min: 0, max: 3 }),
});

function compareDropoutMask(c: typeof dropoutCase extends fc.Arbitrary<infer T> ? T : never): void {
  const what = `dropout_mask n=${c.n} rate=${c.rate} seed=${c.seed} stream=${c.stream}${misaligned(c.misalignment)}`;
  againstJs((kernels, buffers) => {
    const mask = buffers.output(c.n);
    kernels.dropout_mask(mask, c.n, c.rate, c.seed, c.stream);
    return buffers.read(mask);
  }, c.misalignment, (actual, expected, build) => {
    expectClose(actual, expected, exact, `${build} ${what}`);
    expect(expected.every((v) => v === 0 || v === Math.fround(1 / (1 - c.rate))), what).toBe(true);
  });
}

describe('elementwise kernels: both wasm builds against js', () => {
  it('fill', () => check(elementwiseCase, compareFill, 500));
  it('scale', () => check(elementwiseCase, compareScale, 500));
  it('axpy', () => check(elementwiseCase, compareAxpy, 400));
  it('copy, and copy between overlapping ranges', () => check(elementwiseCase, compareCopy, 500));
  it('clamp, NaN and ±Infinity included', () => check(elementwiseCase, compareClamp, 500));
  it('mul, and mul in place', () => check(elementwiseCase, compareMul, 400));
  it('dropout_mask', () => check(dropoutCase, compareDropoutMask, 500));
});

// ---- optimizer updates ----

const sgdCase = fc.record({
  n: elementCount,
  settings: sgdSettings,
  steps: fc.integer({ min: 1, max: 3 }),
  profile: valueProfile({ huge: true }),
  ...dataAndAlignment,
});

function compareSgd(c: typeof sgdCase extends fc.Arbitrary<infer T> ? T : never): void {
  const { n, steps, settings } = c;
  const { lr, momentum, dampening, nesterov, weightDecay } = settings;
  const random = randomFor('sgd', c.data);
  // No squares: ±2e30 parameters and gradients stay finite through any number of steps.
  const startParams = fuzzValues(random, n, c.profile);
  const stepGrads = Array.from({ length: steps }, () => fuzzValues(random, n, c.profile));
  const what = `sgd ${JSON.stringify(settings)} n=${n}${misaligned(c.misalignment)}`;
  const runCase = (kernels: Kernels, buffers: Buffers) => {
    const params = buffers.output(n, startParams);
    // The velocity starts as NaN: the first step (firstStep = 1) must write it without reading it.
    const velocity = momentum === 0 ? 0 : buffers.output(n);
    return stepGrads.map((grads, step) => {
      kernels.sgd_update(params, buffers.input(grads), velocity, n, lr, momentum, dampening, nesterov, weightDecay, step === 0 ? 1 : 0);
      return { params: buffers.read(params), velocity: velocity === 0 ? new Float32Array(0) : buffers.read(velocity) };
    });
  };
  const expected = onBackend(pair.js, runCase, c.misalignment);
  // sgd.test.ts's cancellingArithmetic, with each element's largest operand over all steps.
  const largest = Float64Array.from(startParams, Math.abs);
  for (const values of [...stepGrads, ...expected.flatMap((state) => [state.params, state.velocity])]) {
    values.forEach((value, i) => (largest[i] = Math.max(largest[i], Math.abs(value))));
  }
  // Weight decay, momentum, dampening, Nesterov and lr each add a product that may round a subnormal.
  const tolerances = expected.map((state) => ({
    params: withUnderflow(cancellingPerElement(largest, state.params), 6 * steps),
    velocity: withUnderflow(cancellingPerElement(largest, state.velocity), 6 * steps),
  }));
  for (const build of BUILDS) {
    const actual = onBackend(pair[build], runCase, c.misalignment);
    expected.forEach((state, step) => {
      const after = `${pair[build].description} ${what} after step ${step + 1}`;
      expectClose(actual[step].params, state.params, tolerances[step].params, `${after}: params`);
      expectClose(actual[step].velocity, state.velocity, tolerances[step].velocity, `${after}: velocity`);
    });
  }
}

/** Optimizer moments square the gradient: huge values stay at ±2e18, whose squares are float32s. */
const HUGE_GRADIENT = 1e18;

const adamCase = fc.record({
  n: elementCount,
  settings: adamSettings,
  profile: valueProfile({ huge: true }),
  ...dataAndAlignment,
});

function compareAdam(c: typeof adamCase extends fc.Arbitrary<infer T> ? T : never): void {
  const { n, settings } = c;
  const { lr, beta1, beta2, eps, weightDecay, decoupled, step } = settings;
  const random = randomFor('adam', c.data);
  const huge = { huge: HUGE_GRADIENT };
  const params = fuzzValues(random, n, c.profile, huge);
  const grads = fuzzValues(random, n, c.profile, huge);
  const expAvg = fuzzValues(random, n, c.profile, { scale: 0.5, huge: HUGE_GRADIENT });
  // Squares, exact 0s among them (where the grad is 0 too, the denominator is eps alone).
  const expAvgSq = fuzzValues(random, n, c.profile, { scale: 0.5, huge: HUGE_GRADIENT }).map((x) => x * x);
  const what = `adam ${JSON.stringify(settings)} n=${n}${misaligned(c.misalignment)}`;
  const runCase = (kernels: Kernels, buffers: Buffers) => {
    const paramsAt = buffers.output(n, params);
    const expAvgAt = buffers.output(n, expAvg);
    const expAvgSqAt = buffers.output(n, expAvgSq);
    kernels.adam_update(paramsAt, buffers.input(grads), expAvgAt, expAvgSqAt, n, lr, beta1, beta2, eps, weightDecay, decoupled, step);
    return { params: buffers.read(paramsAt), expAvg: buffers.read(expAvgAt), expAvgSq: buffers.read(expAvgSqAt) };
  };
  const expected = onBackend(pair.js, runCase, c.misalignment);
  const bounds = adamBounds(settings, params, grads, expAvg, expAvgSq, expected);
  // Each moment is up to four products and sums that may round a subnormal. The step size times expAvg
  // carries those of expAvg (times the step size) and its own, and is then divided by the denominator,
  // which divides their absolute errors too; the decay and the subtraction add two more.
  const stepSize = lr / (1 - beta1 ** step);
  const correctionRoot = Math.sqrt(1 - beta2 ** step);
  const paramSpacings = Float64Array.from(expected.expAvgSq, (v) => 2 + (4 * stepSize + 1) / (Math.sqrt(v) / correctionRoot + eps));
  const tolerances = {
    expAvg: withUnderflow(bounds.expAvg, 4), expAvgSq: withUnderflow(bounds.expAvgSq, 4), params: withUnderflow(bounds.params, paramSpacings),
  };
  for (const build of BUILDS) {
    const actual = onBackend(pair[build], runCase, c.misalignment);
    for (const name of ['expAvg', 'expAvgSq', 'params'] as const) {
      expectClose(actual[name], expected[name], tolerances[name], `${pair[build].description} ${what} ${name}`);
    }
  }
}

const rmspropCase = fc.record({
  n: elementCount,
  settings: rmspropSettings,
  profile: valueProfile({ huge: true }),
  ...dataAndAlignment,
});

function compareRmsprop(c: typeof rmspropCase extends fc.Arbitrary<infer T> ? T : never): void {
  const { n, settings } = c;
  const { lr, eps, momentum, centered } = settings;
  const random = randomFor('rmsprop', c.data);
  const huge = { huge: HUGE_GRADIENT };
  const params = fuzzValues(random, n, c.profile, huge);
  const grads = fuzzValues(random, n, c.profile, huge);
  const gradAvg = centered ? fuzzValues(random, n, c.profile, { scale: 0.5, huge: HUGE_GRADIENT }) : new Float32Array(0);
  // Squares; centered, above gradAvg² by 0.1% and 0.01 (rmsprop.test.ts adds the 0.01 alone), so that the
  // variance squareAvg − gradAvg² stays positive after the update whatever their magnitude.
  const squareAvg = fuzzValues(random, n, c.profile, { scale: 0.5, huge: HUGE_GRADIENT })
    .map((x, i) => x * x + (centered ? gradAvg[i] * gradAvg[i] * 1.001 + 0.01 : 0));
  const momentumBuffer = momentum > 0 ? fuzzValues(random, n, c.profile, huge) : new Float32Array(0);
  const start = { params, squareAvg, gradAvg, momentumBuffer };
  const what = `rmsprop ${JSON.stringify(settings)} n=${n}${misaligned(c.misalignment)}`;
  const runCase = (kernels: Kernels, buffers: Buffers) => rmspropStep(kernels, buffers, settings, start, grads);
  const expected = onBackend(pair.js, runCase, c.misalignment);
  const bounds = rmspropBounds(settings, start, grads, expected);
  // The averages are up to four products and sums that may round a subnormal. The gradient (weight decay:
  // two) and lr times it (one more) are divided by avg, which divides their absolute errors too; the
  // momentum buffer and the subtraction add two more.
  const avg = Float64Array.from(expected.squareAvg, (square, i) =>
    Math.sqrt(Math.max(centered ? square - expected.gradAvg[i] ** 2 : square, 0)) + eps);
  const tolerances = {
    squareAvg: withUnderflow(bounds.squareAvg, 4),
    gradAvg: withUnderflow(bounds.gradAvg, 4),
    momentumBuffer: withUnderflow(bounds.momentumBuffer, Float64Array.from(avg, (a) => 2 + 3 / a)),
    params: withUnderflow(bounds.params, Float64Array.from(avg, (a) => 2 + 3 * (1 + lr) / a)),
  };
  for (const build of BUILDS) {
    const actual = onBackend(pair[build], runCase, c.misalignment);
    for (const name of ['squareAvg', 'gradAvg', 'momentumBuffer', 'params'] as const) {
      expectClose(actual[name], expected[name], tolerances[name], `${pair[build].description} ${what} ${name}`);
    }
  }
}

describe('optimizer updates: both wasm builds against js', () => {
  it('sgd_update, 1 to 3 steps', () => check(sgdCase, compareSgd, 250));
  it('adam_update', () => check(adamCase, compareAdam, 300));
  it('rmsprop_update', () => check(rmspropCase, compareRmsprop, 300));
});

it('the shapes reach every dimension from 1 to 300', () => {
  const seen = new Set(fc.sample(dimension, { seed: 1, numRuns: 20_000 }));
  expect(seen.size).toBe(300);
});

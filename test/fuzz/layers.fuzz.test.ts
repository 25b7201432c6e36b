// Property tests of whole models: random small Sequential networks (1–3 dense layers, widths 1…64, any
// activation, bias on or off, a loss that fits the output) built with one seed on the wasm backend and
// on the JS backend agree on the forward output, the loss, every parameter gradient and the input gradient.
// Replay a run: SIMDPROP_FUZZ_SEED=<seed it printed> npx vitest run test/fuzz/layers.fuzz.test.ts
// One failing case alone: add SIMDPROP_FUZZ_PATH=<path in the failure> and -t '<the property's name>'.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { ACTIVATIONS, dense, init, LOSSES, Sequential, type ActivationName, type LossName } from '../../src/index.js';
import { checkLossFitsOutput } from '../../src/losses.js';
import { createRandom, randomLabels, type Random } from '../random.js';
import { expectClose, FLOAT32_EPSILON, mixed } from '../tolerance.js';
import { announceSeed, check, fuzzUnitValues, fuzzValues, valueProfile } from './fuzz.js';

const FILE = 'test/fuzz/layers.fuzz.test.ts';
announceSeed(FILE);
// The wasm backend init() picks: relaxed SIMD where the runtime validates it (vitest.config.ts turns it on).
await init({ backend: 'wasm', threads: 1 });

/**
 * Agreement of the two backends on every number a model reports. Each GEMM element may differ by 16
 * float32 ulps of its Σ|terms| (gemm.test.ts), each activation by a few ulps (transcendental); through
 * three layers of at most 64 inputs, with inputs and He/Glorot weights of order 1 and no cancellation
 * beyond that of the sums, that stays below about 1e-5 relative; 1e-4 leaves a factor of ten for the
 * losses' and gradients' own roundings. The absolute 1e-5 covers elements that cancel to near 0, whose
 * error is one of the operands' (of order 1 at most), not of the result.
 */
const MODEL_TOLERANCE = mixed(1e-5, 1e-4);

/**
 * How much bce on probabilities amplifies the output's error, for the loss and everything backward of
 * it: log(1 − p) and dL/dp = (p − y)/(p(1 − p)) turn the absolute error of p, a few ε, into a relative
 * error of ε/(1 − p), which exceeds MODEL_TOLERANCE's 1e-4 from 1 − p ≈ 1e-3 on (measured: a softmax
 * output at 1 − p = 2.2e-4 put the loss 1.4e-4 off). Scaling the tolerance by ε/(1e-5·(1 − p)) keeps a
 * factor of ten over that; p near 0 keeps its relative precision. Where p rounds to exactly 1 on either
 * backend, bce's clamps (log ≥ −100, p(1 − p) ≥ 1e-12) take over: a cliff between the backends, and a
 * gradient of (1 − y)/1e-12 that a softmax's backward cancels to float32 noise of that size (measured:
 * 0.024 against 0). Nothing is left to compare there (undefined).
 */
function bceAmplification(loss: LossName, wasm: Float32Array, js: Float32Array): number | undefined {
  if (loss !== 'bce') return 1;
  if (js.some((p, i) => p === 1 || wasm[i] === 1)) return undefined;
  const closest = js.reduce((least, p) => Math.min(least, 1 - p), 1);
  return Math.max(1, FLOAT32_EPSILON / (1e-5 * closest));
}

/** Losses that fit an output activation: the logits losses refuse a squashed output (checkLossFitsOutput); bce needs probabilities. */
function lossFits(loss: LossName, outputActivation: ActivationName): boolean {
  if (loss === 'bce') return outputActivation === 'sigmoid' || outputActivation === 'softmax';
  try {
    checkLossFitsOutput(loss, outputActivation);
    return true;
  } catch {
    return false;
  }
}

const layerSpec = fc.record({
  activation: fc.constantFrom(...ACTIVATIONS),
  bias: fc.boolean(),
  negativeSlope: fc.oneof(fc.constant(0.01), fc.double({ min: 0, max: 0.5, noNaN: true })),
});

const modelCase = fc.record({
  widths: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 2, maxLength: 4 }),
  layers: fc.array(layerSpec, { minLength: 3, maxLength: 3 }),
  loss: fc.constantFrom(...LOSSES),
  // softmaxCrossEntropy: class labels, or soft target rows.
  labels: fc.boolean(),
  delta: fc.double({ min: 0.1, max: 2, noNaN: true }),
  rows: fc.integer({ min: 1, max: 32 }),
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  // Inputs with exact zeros and subnormals among them.
  profile: valueProfile(),
  data: fc.integer(),
}).filter((c) => lossFits(c.loss, c.layers[c.widths.length - 2].activation));
type ModelCase = typeof modelCase extends fc.Arbitrary<infer T> ? T : never;

/** Targets for the loss: labels or probability rows for softmax cross-entropy, [0, 1] for the BCEs, any value else. */
function targetsFor(c: ModelCase, random: Random, outputs: number): Int32Array | Float32Array {
  if (c.loss === 'softmaxCrossEntropy' && c.labels) return randomLabels(random, c.rows, outputs);
  if (c.loss === 'softmaxCrossEntropy') {
    const rows = fuzzUnitValues(random, c.rows * outputs, c.profile);
    for (let r = 0; r < c.rows; r++) {
      const row = rows.subarray(r * outputs, (r + 1) * outputs);
      const sum = row.reduce((total, value) => total + value, 0);
      if (sum === 0) row[0] = 1;
      else row.forEach((value, j) => (row[j] = value / sum));
    }
    return rows;
  }
  if (c.loss === 'bce' || c.loss === 'bceWithLogits') return fuzzUnitValues(random, c.rows * outputs, c.profile);
  return fuzzValues(random, c.rows * outputs, { ...c.profile, zeros: true });
}

/** Forward, loss and backward on one backend: every number the step produces. */
function runModel(c: ModelCase, backend: 'wasm' | 'js', x: Float32Array, y: Int32Array | Float32Array) {
  const layers = c.widths.slice(1).map((outputs, i) =>
    dense(c.widths[i], outputs, c.layers[i].activation, { bias: c.layers[i].bias, negativeSlope: c.layers[i].negativeSlope }));
  const model = new Sequential(layers, { seed: c.seed, backend });
  try {
    const output = model.forward(x).slice();
    // Which branch each relu and leakyRelu element takes backward: relu reads its output, leakyRelu z.
    const branches = model.inspect().flatMap(({ layer, z, a }) => {
      const { activation } = model.layers[layer];
      if (activation === 'relu') return [a.map((value) => (value > 0 ? 1 : 0))];
      return activation === 'leakyRelu' ? [z.map((value) => (value > 0 ? 1 : 0))] : [];
    });
    const loss = model.loss(c.loss, y, { delta: c.delta });
    model.backward();
    const gradients = model.namedParameters().map(({ name, grad }) => ({ name, grad: grad.slice() }));
    return { output, branches, loss, gradients, inputGrad: model.inputGrad().slice() };
  } finally {
    model.dispose();
  }
}

function compareModels(c: ModelCase): void {
  const random = createRandom(`layers ${c.data}`);
  const inputs = c.widths[0];
  const outputs = c.widths[c.widths.length - 1];
  const x = fuzzValues(random, c.rows * inputs, c.profile);
  const y = targetsFor(c, random, outputs);
  const architecture = c.widths.slice(1)
    .map((width, i) => `${c.widths[i]}→${width} ${c.layers[i].activation}${c.layers[i].bias ? '' : ' no bias'}`).join(', ');
  const what = `${architecture}, ${c.loss}${c.loss === 'softmaxCrossEntropy' && c.labels ? ' (labels)' : ''}, ${c.rows} rows, seed ${c.seed}`;
  const wasm = runModel(c, 'wasm', x, y);
  const js = runModel(c, 'js', x, y);
  expectClose(wasm.output, js.output, MODEL_TOLERANCE, `${what}: output`);
  const amplification = bceAmplification(c.loss, wasm.output, js.output);
  fc.pre(amplification !== undefined);
  const backwardTolerance = mixed(1e-5 * amplification, 1e-4 * amplification);
  expectClose(wasm.loss, js.loss, backwardTolerance, `${what}: loss`);
  // A pre-activation within rounding of 0 may fall on either side of a relu's kink, and the two backends
  // then backpropagate along different branches, both right: such a case is drawn again.
  fc.pre(wasm.branches.every((mask, i) => mask.every((branch, j) => branch === js.branches[i][j])));
  js.gradients.forEach(({ name, grad }, i) => expectClose(wasm.gradients[i].grad, grad, backwardTolerance, `${what}: ${name} gradient`));
  expectClose(wasm.inputGrad, js.inputGrad, backwardTolerance, `${what}: input gradient`);
}

describe('models: the wasm backend against the js backend', () => {
  it('forward output, loss, parameter and input gradients of random 1- to 3-layer networks', () => check(modelCase, compareModels, 3000));
});

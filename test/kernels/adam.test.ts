import { describe, it } from 'vitest';
import { adam_update } from '../../src/backend/js/adam.js';
import { createBackendPair, onBoth, TAIL_SIZES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { adamBounds, type AdamSettings } from '../optimizer_bounds.js';
import { expectClose, relative } from '../tolerance.js';

const pair = await createBackendPair();

const ADAM = { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: 0 };
type AdamCase = AdamSettings & { readonly name: string };

const SETTINGS: AdamCase[] = [
  { name: 'Adam, step 1', ...ADAM, step: 1 },
  { name: 'Adam, step 10', ...ADAM, step: 10 },
  { name: 'Adam with weight decay, step 1', ...ADAM, weightDecay: 0.01, step: 1 },
  { name: 'Adam with weight decay, step 10', ...ADAM, weightDecay: 0.01, step: 10 },
  { name: 'AdamW, step 1', ...ADAM, weightDecay: 0.1, decoupled: 1, step: 1 },
  { name: 'AdamW, step 10', ...ADAM, weightDecay: 0.1, decoupled: 1, step: 10 },
  { name: 'small betas and a large eps, step 3', lr: 0.01, beta1: 0.5, beta2: 0.75, eps: 1e-3, weightDecay: 0.05, decoupled: 0, step: 3 },
];

// Hand-computed from PyTorch's formulas, in float64 (the twin runs over a Float64Array here).
// m at index 0: param, grad, expAvg, expAvgSq. lr 0.1, betas (0.9, 0.999), eps 1e-8.
describe('adam twin on hand-computed steps', () => {
  function run(grads: number[], weightDecay: number, decoupled: number): number[][] {
    const m = Float64Array.of(1, NaN, 0, 0);
    return grads.map((grad, step) => {
      m[1] = grad;
      adam_update(m, 0, 1, 2, 3, 1, 0.1, 0.9, 0.999, 1e-8, weightDecay, decoupled, step + 1);
      return [m[0], m[2], m[3]];
    });
  }

  it('three plain steps with grads 0.5, −0.25, 0.125', () => {
    const [first, second, third] = run([0.5, -0.25, 0.125], 0, 0);
    // Step 1: m = 0.1·0.5 = 0.05, v = 0.001·0.25 = 2.5e-4; bc1 = 0.1, bc2 = 0.001, so lr/bc1 = 1 and
    // √v/√bc2 = 0.5: p = 1 − 0.05/(0.5 + 1e-8) = 0.900000002.
    expectClose(first, [0.900000002, 0.05, 2.5e-4], relative(1e-14), 'step 1');
    // Step 2: m = 0.045 − 0.025 = 0.02, v = 2.4975e-4 + 6.25e-5 = 3.1225e-4; bc1 = 0.19, bc2 = 0.001999;
    // p = 0.900000002 − (0.1/0.19)·0.02/(√(3.1225e-4/0.001999) + 1e-8) = 0.900000002 − 0.010526315…/0.395225390…
    expectClose(second, [0.8733662987078463, 0.02, 3.1225e-4], relative(1e-14), 'step 2');
    // Step 3: m = 0.018 + 0.0125 = 0.0305, v = 3.1193775e-4 + 1.5625e-5 = 3.2756275e-4; bc1 = 0.271,
    // bc2 = 0.002997001; p = 0.873366… − (0.1/0.271)·0.0305/(√(v/bc2) + 1e-8) = 0.873366… − 0.011254…/0.330600…
    expectClose(third, [0.8393233849166541, 0.0305, 3.2756275e-4], relative(1e-14), 'step 3');
  });

  it('Adam adds weight decay to the gradient, into both moments', () => {
    const [first, second] = run([0.5, -0.25], 0.1, 0);
    // Step 1: g = 0.5 + 0.1·1 = 0.6; m = 0.06, v = 3.6e-4, √v/√bc2 = 0.6: p = 1 − 0.06/(0.6 + 1e-8).
    expectClose(first, [0.9000000016666666, 0.06, 3.6e-4], relative(1e-14), 'step 1');
    // Step 2: g = −0.25 + 0.1·0.9000000016666666 = −0.15999999983333335; m = 0.054 − 0.016 = 0.038…,
    // v = 3.5964e-4 + 2.56e-5 = 3.8524e-4 (less 5.3e-14); p = 0.9 − (0.1/0.19)·0.038/0.438994723…
    expectClose(second, [0.8544413674617625, 0.03800000001666665, 3.8523999994666703e-4], relative(1e-14), 'step 2');
  });

  it('AdamW shrinks the parameter by 1 − lr·weightDecay first and keeps decay out of the moments', () => {
    const [first, second] = run([0.5, -0.25], 0.1, 1);
    // Step 1: p = 1·(1 − 0.01) = 0.99, then the plain step 1 update of 0.099999998: 0.890000002.
    expectClose(first, [0.890000002, 0.05, 2.5e-4], relative(1e-14), 'step 1');
    // Step 2: p = 0.890000002·0.99 = 0.88110000198, then the plain step 2 update of 0.026633703…
    expectClose(second, [0.8544662986878463, 0.02, 3.1225e-4], relative(1e-14), 'step 2');
  });
});

describe('adam_update: wasm against js', () => {
  function compareStep(settings: AdamCase, n: number, misalignment: number): void {
    const what = `adam ${settings.name} n=${n}${misalignment ? ' misaligned' : ''}`;
    const random = createRandom(what);
    const params = mixedValues(random, n);
    const grads = mixedValues(random, n);
    const expAvg = mixedValues(random, n, 0.5);
    // Squares, with an exact 0 one time in ten: where the grad is 0 as well, the denominator is eps alone.
    const expAvgSq = mixedValues(random, n, 0.5).map((x) => x * x);
    const { lr, beta1, beta2, eps, weightDecay, decoupled, step } = settings;
    const results = onBoth(pair, (kernels, buffers) => {
      const paramsAt = buffers.output(n, params);
      const expAvgAt = buffers.output(n, expAvg);
      const expAvgSqAt = buffers.output(n, expAvgSq);
      kernels.adam_update(paramsAt, buffers.input(grads), expAvgAt, expAvgSqAt, n, lr, beta1, beta2, eps, weightDecay, decoupled, step);
      return { params: buffers.read(paramsAt), expAvg: buffers.read(expAvgAt), expAvgSq: buffers.read(expAvgSqAt) };
    }, misalignment);
    const bounds = adamBounds(settings, params, grads, expAvg, expAvgSq, results.js);
    expectClose(results.wasm.expAvg, results.js.expAvg, bounds.expAvg, `${what} expAvg`);
    expectClose(results.wasm.expAvgSq, results.js.expAvgSq, bounds.expAvgSq, `${what} expAvgSq`);
    expectClose(results.wasm.params, results.js.params, bounds.params, `${what} params`);
  }

  for (const settings of SETTINGS) {
    it.each(TAIL_SIZES)(`${settings.name}: n=%i`, (n) => compareStep(settings, n, 0));
    it(`${settings.name}: buffers one element off alignment`, () => compareStep(settings, 127, 1));
  }
});

import { describe, it } from 'vitest';
import { rmsprop_update } from '../../src/backend/js/rmsprop.js';
import { createBackendPair, onBoth, TAIL_SIZES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { rmspropBounds, rmspropStep, type RmspropSettings } from '../optimizer_bounds.js';
import { expectClose, relative } from '../tolerance.js';

const pair = await createBackendPair();

const RMSPROP = { lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: 0 };
type RmspropCase = RmspropSettings & { readonly name: string };

const SETTINGS: RmspropCase[] = [
  { name: 'plain', ...RMSPROP },
  { name: 'weight decay', ...RMSPROP, weightDecay: 0.01 },
  { name: 'momentum', ...RMSPROP, momentum: 0.9 },
  { name: 'centered', ...RMSPROP, centered: 1 },
  { name: 'centered with momentum and weight decay', ...RMSPROP, alpha: 0.9, momentum: 0.5, weightDecay: 0.01, centered: 1 },
  // The other pairs of options: each set runs a loop of its own in the kernel.
  { name: 'momentum and weight decay', ...RMSPROP, momentum: 0.9, weightDecay: 0.01 },
  { name: 'centered with weight decay', ...RMSPROP, weightDecay: 0.01, centered: 1 },
  { name: 'centered with momentum', ...RMSPROP, momentum: 0.9, centered: 1 },
  { name: 'small alpha and a large eps', ...RMSPROP, lr: 0.1, alpha: 0.5, eps: 1e-3 },
];

// Hand-computed from PyTorch's formulas, in float64 (the twin runs over a Float64Array here).
// m at index 0: param, grad, squareAvg, gradAvg, momentumBuffer. lr 0.01, alpha 0.9, eps 1e-8.
describe('rmsprop twin on hand-computed steps', () => {
  function run(grads: number[], weightDecay: number, momentum: number, centered: number): number[][] {
    const m = Float64Array.of(1, NaN, 0, 0, 0);
    return grads.map((grad) => {
      m[1] = grad;
      rmsprop_update(m, 0, 1, 2, centered ? 3 : -1, momentum > 0 ? 4 : -1, 1, 0.01, 0.9, 1e-8, weightDecay, momentum, centered);
      return [m[0], m[2], m[3], m[4]];
    });
  }

  it('three plain steps with grads 0.5, −0.25, 0.125', () => {
    const [first, second, third] = run([0.5, -0.25, 0.125], 0, 0, 0);
    // Step 1: sq = 0.1·0.25 = 0.025; avg = √0.025 + 1e-8 = 0.158113893…; p = 1 − 0.01·0.5/avg.
    expectClose(first, [0.968377225398316, 0.025, 0, 0], relative(1e-14), 'step 1');
    // Step 2: sq = 0.0225 + 0.00625 = 0.02875; avg = 0.169558259…; p = 0.968377… + 0.01·0.25/avg.
    expectClose(second, [0.9831214201442406, 0.02875, 0, 0], relative(1e-14), 'step 2');
    // Step 3: sq = 0.025875 + 0.0015625 = 0.0274375; avg = 0.165642697…; p = 0.983121… − 0.01·0.125/avg.
    expectClose(third, [0.9755750566939092, 0.0274375, 0, 0], relative(1e-14), 'step 3');
  });

  it('centered, with momentum 0.5 and weight decay 0.1', () => {
    const [first, second] = run([0.5, -0.25], 0.1, 0.5, 1);
    // Step 1: g = 0.5 + 0.1·1 = 0.6; sq = 0.036, ga = 0.06; avg = √(0.036 − 0.0036) + 1e-8 = 0.18000001;
    // buf = 0.6/avg = 3.33333314…; p = 1 − 0.01·buf.
    expectClose(first, [0.9666666685185185, 0.036, 0.06, 3.333333148148159], relative(1e-14), 'step 1');
    // Step 2: g = −0.25 + 0.1·0.96666666… = −0.15333333…; sq = 0.0324 + 0.00235111… = 0.03475111…;
    // ga = 0.054 − 0.01533333… = 0.03866666…; avg = √(sq − ga²) + 1e-8 = 0.18236228…;
    // buf = 0.5·3.33333314… + g/avg = 0.82584945…; p = 0.96666666… − 0.01·buf.
    expectClose(second, [0.958408173998616, 0.03475111110543209, 0.038666666685185175, 0.8258494519902406], relative(1e-14), 'step 2');
  });
});

describe('rmsprop_update: wasm against js', () => {
  function compareStep(settings: RmspropCase, n: number, misalignment: number): void {
    const what = `rmsprop ${settings.name} n=${n}${misalignment ? ' misaligned' : ''}`;
    const random = createRandom(what);
    const { momentum, centered } = settings;
    const params = mixedValues(random, n);
    const grads = mixedValues(random, n);
    const gradAvg = centered ? mixedValues(random, n, 0.5) : new Float32Array(0);
    // Squares (an exact 0 one time in ten); centered, at least gradAvg² + 0.01 so that the variance stays positive.
    const squareAvg = mixedValues(random, n, 0.5).map((x, i) => x * x + (centered ? gradAvg[i] * gradAvg[i] + 0.01 : 0));
    const momentumBuffer = momentum > 0 ? mixedValues(random, n) : new Float32Array(0);
    const start = { params, squareAvg, gradAvg, momentumBuffer };
    const results = onBoth(pair, (kernels, buffers) => rmspropStep(kernels, buffers, settings, start, grads), misalignment);
    const bounds = rmspropBounds(settings, start, grads, results.js);
    for (const name of ['squareAvg', 'gradAvg', 'momentumBuffer', 'params'] as const) {
      expectClose(results.wasm[name], results.js[name], bounds[name], `${what} ${name}`);
    }
  }

  for (const settings of SETTINGS) {
    it.each(TAIL_SIZES)(`${settings.name}: n=%i`, (n) => compareStep(settings, n, 0));
    it(`${settings.name}: buffers one element off alignment`, () => compareStep(settings, 127, 1));
  }
});

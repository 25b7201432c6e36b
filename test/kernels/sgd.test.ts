import { describe, expect, it } from 'vitest';
import { sgd_update } from '../../src/backend/js/sgd.js';
import { createBackendPair, onBoth, TAIL_SIZES } from '../harness.js';
import { createRandom, mixedValues } from '../random.js';
import { cancellingArithmetic, expectClose, largestMagnitude, relative } from '../tolerance.js';

const pair = await createBackendPair();

interface SgdSettings {
  readonly name: string;
  readonly lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: number;
  readonly weightDecay: number;
}

const SETTINGS: SgdSettings[] = [
  { name: 'plain', lr: 0.1, momentum: 0, dampening: 0, nesterov: 0, weightDecay: 0 },
  { name: 'weight decay', lr: 0.1, momentum: 0, dampening: 0, nesterov: 0, weightDecay: 0.01 },
  { name: 'momentum', lr: 0.05, momentum: 0.9, dampening: 0, nesterov: 0, weightDecay: 0 },
  { name: 'momentum with dampening', lr: 0.05, momentum: 0.9, dampening: 0.1, nesterov: 0, weightDecay: 0 },
  { name: 'momentum, dampening and weight decay', lr: 0.05, momentum: 0.5, dampening: 0.25, nesterov: 0, weightDecay: 0.01 },
  { name: 'nesterov', lr: 0.05, momentum: 0.9, dampening: 0, nesterov: 1, weightDecay: 0 },
  { name: 'nesterov with weight decay', lr: 0.05, momentum: 0.9, dampening: 0, nesterov: 1, weightDecay: 0.01 },
];

/** Steps per case: the first (firstStep = 1) must write the velocity without reading it, as it starts NaN. */
const STEPS = 3;

describe('sgd twin on hand-computed steps', () => {
  // params at 0, grads at 1, velocity at 2.
  it('plain: p −= lr·(g + weightDecay·p)', () => {
    const m = Float64Array.of(2, 0.5, NaN);
    sgd_update(m, 0, 1, -1, 1, 0.1, 0, 0, 0, 0.25, 1);
    expectClose(m[0], 2 - 0.1 * (0.5 + 0.25 * 2), relative(1e-15), 'param');
  });

  it('first momentum step: v = g, then p −= lr·v', () => {
    const m = Float64Array.of(1, 0.5, NaN);
    sgd_update(m, 0, 1, 2, 1, 0.1, 0.9, 0.5, 0, 0, 1);
    expectClose([m[0], m[2]], [0.95, 0.5], relative(1e-15), 'param and velocity');
  });

  it('nesterov step: v = 0.9·0.2 + 0.5 = 0.68, g = 0.5 + 0.9·0.68 = 1.112, p = 1 − 0.1·1.112', () => {
    const m = Float64Array.of(1, 0.5, 0.2);
    sgd_update(m, 0, 1, 2, 1, 0.1, 0.9, 0, 1, 0, 0);
    expectClose([m[0], m[2]], [0.8888, 0.68], relative(1e-15), 'param and velocity');
  });

  it('dampened momentum step: v = 0.9·0.2 + 0.75·0.5 = 0.555, p = 1 − 0.1·0.555', () => {
    const m = Float64Array.of(1, 0.5, 0.2);
    sgd_update(m, 0, 1, 2, 1, 0.1, 0.9, 0.25, 0, 0, 0);
    expectClose([m[0], m[2]], [0.9445, 0.555], relative(1e-15), 'param and velocity');
  });
});

describe('sgd_update: wasm against js', () => {
  function compareSteps(settings: SgdSettings, n: number, misalignment: number): void {
    const what = `sgd ${settings.name} n=${n}${misalignment ? ' misaligned' : ''}`;
    const random = createRandom(what);
    const startParams = mixedValues(random, n);
    const stepGrads = Array.from({ length: STEPS }, () => mixedValues(random, n));
    const { lr, momentum, dampening, nesterov, weightDecay } = settings;
    const results = onBoth(pair, (kernels, buffers) => {
      const params = buffers.output(n, startParams);
      const velocity = momentum === 0 ? 0 : buffers.output(n);
      return stepGrads.map((grads, step) => {
        const firstStep = step === 0 ? 1 : 0;
        const gradsOffset = buffers.input(grads);
        kernels.sgd_update(params, gradsOffset, velocity, n, lr, momentum, dampening, nesterov, weightDecay, firstStep);
        return { params: buffers.read(params), velocity: velocity === 0 ? new Float32Array(0) : buffers.read(velocity) };
      });
    }, misalignment);

    const states = results.js.flatMap((state) => [state.params, state.velocity]);
    const tolerance = cancellingArithmetic(largestMagnitude(startParams, ...stepGrads, ...states));
    results.js.forEach((expected, step) => {
      const actual = results.wasm[step];
      expectClose(actual.params, expected.params, tolerance, `${what} params after step ${step + 1}`);
      expectClose(actual.velocity, expected.velocity, tolerance, `${what} velocity after step ${step + 1}`);
    });
  }

  for (const settings of SETTINGS) {
    it.each(TAIL_SIZES)(`${settings.name}: ${STEPS} steps, n=%i`, (n) => compareSteps(settings, n, 0));
    it(`${settings.name}: ${STEPS} steps on buffers one element off alignment`, () => compareSteps(settings, 127, 1));
  }
});

describe('sgd_update without weight decay adds no decay term, as PyTorch', () => {
  // A decay term 0·p would make an infinite parameter NaN.
  it.each(TAIL_SIZES)('n=%i', (n) => {
    const params = Float32Array.from({ length: n }, (_, i) => [Infinity, -Infinity, 0.5, -2][i % 4]);
    const grads = Float32Array.from({ length: n }, (_, i) => [1, -1, 2, 0.5][i % 4]);
    const results = onBoth(pair, (kernels, buffers) => {
      const at = buffers.output(n, params);
      kernels.sgd_update(at, buffers.input(grads), 0, n, 0.25, 0, 0, 0, 0, 1);
      return buffers.read(at);
    });
    const expected = Array.from({ length: n }, (_, i) => [Infinity, -Infinity, 0, -2.125][i % 4]);
    for (const side of [results.wasm, results.js]) expect(Array.from(side)).toEqual(expected);
  });
});

// Adam, AdamW and RMSprop: each follows a float64 reference written from PyTorch's documented algorithm,
// on both backends; frozen layers stay as they are; bad options are refused, naming the option, with the
// model untouched; wasm and js follow the same trajectory; threads change no bit; Adam learns.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import { createWasmBackend } from '../../src/backend/wasm/index.js';
import {
  Adam, AdamW, dense, init, linearlySeparable, RMSprop, Sequential, SimdpropError, type BackendName, type Optimizer,
} from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { BACKENDS, loadBackends, normalMatrix, randomLabels, sameBits, snapshot } from '../model/setup.js';
import { afterSteps, cancellingArithmetic, expectClose, largestMagnitude } from '../tolerance.js';

beforeAll(loadBackends);

/** One step of a float64 reference over a flat parameter vector, keeping its own state. */
type ReferenceStep = (params: Float64Array, grads: Float64Array) => void;

// Adam from PyTorch's documented algorithm: m̂ = m/(1 − β1^t), v̂ = v/(1 − β2^t), θ −= lr·m̂/(√v̂ + ε);
// L2 decay adds λθ to g, decoupled decay (AdamW) multiplies θ by 1 − lr·λ first.
function adamReference(lr: number, [beta1, beta2]: [number, number], eps: number, weightDecay: number, decoupled: boolean) {
  return (n: number): ReferenceStep => {
    const m = new Float64Array(n);
    const v = new Float64Array(n);
    let t = 0;
    return (params, grads) => {
      t++;
      for (let i = 0; i < n; i++) {
        let g = grads[i];
        if (decoupled) params[i] *= 1 - lr * weightDecay;
        else g += weightDecay * params[i];
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        const mHat = m[i] / (1 - beta1 ** t);
        const vHat = v[i] / (1 - beta2 ** t);
        params[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
    };
  };
}

// RMSprop from PyTorch's documented algorithm: v = αv + (1 − α)g²; centered: ḡ = αḡ + (1 − α)g, ṽ = v − ḡ²;
// momentum μ > 0: b = μb + g/(√ṽ + ε), θ −= lr·b; else θ −= lr·g/(√ṽ + ε).
function rmspropReference(lr: number, alpha: number, eps: number, weightDecay: number, momentum: number, centered: boolean) {
  return (n: number): ReferenceStep => {
    const squareAvg = new Float64Array(n);
    const gradAvg = new Float64Array(n);
    const buffer = new Float64Array(n);
    return (params, grads) => {
      for (let i = 0; i < n; i++) {
        const g = grads[i] + weightDecay * params[i];
        squareAvg[i] = alpha * squareAvg[i] + (1 - alpha) * g * g;
        let variance = squareAvg[i];
        if (centered) {
          gradAvg[i] = alpha * gradAvg[i] + (1 - alpha) * g;
          variance -= gradAvg[i] * gradAvg[i];
        }
        const avg = Math.sqrt(variance) + eps;
        if (momentum > 0) {
          buffer[i] = momentum * buffer[i] + g / avg;
          params[i] -= lr * buffer[i];
        } else {
          params[i] -= (lr * g) / avg;
        }
      }
    };
  };
}

interface OptimizerCase {
  readonly name: string;
  readonly create: (model: Sequential) => Optimizer;
  /** The same optimizer with every hyper-parameter spelled out (defaults as PyTorch documents them). */
  readonly reference: (n: number) => ReferenceStep;
}

const CASES: OptimizerCase[] = [
  { name: 'Adam, defaults', create: (model) => new Adam(model), reference: adamReference(1e-3, [0.9, 0.999], 1e-8, 0, false) },
  {
    name: 'Adam with weight decay',
    create: (model) => new Adam(model, { lr: 0.1, betas: [0.8, 0.99], eps: 1e-3, weightDecay: 0.1 }),
    reference: adamReference(0.1, [0.8, 0.99], 1e-3, 0.1, false),
  },
  { name: 'AdamW, defaults', create: (model) => new AdamW(model), reference: adamReference(1e-3, [0.9, 0.999], 1e-8, 1e-2, true) },
  {
    name: 'AdamW',
    create: (model) => new AdamW(model, { lr: 0.1, betas: [0.5, 0.9], eps: 1e-4, weightDecay: 0.5 }),
    reference: adamReference(0.1, [0.5, 0.9], 1e-4, 0.5, true),
  },
  {
    name: 'Adam with decoupledWeightDecay is AdamW',
    create: (model) => new Adam(model, { lr: 0.1, weightDecay: 0.5, decoupledWeightDecay: true }),
    reference: adamReference(0.1, [0.9, 0.999], 1e-8, 0.5, true),
  },
  { name: 'RMSprop, defaults', create: (model) => new RMSprop(model), reference: rmspropReference(1e-2, 0.99, 1e-8, 0, 0, false) },
  {
    name: 'RMSprop with momentum',
    create: (model) => new RMSprop(model, { lr: 0.05, alpha: 0.9, momentum: 0.9 }),
    reference: rmspropReference(0.05, 0.9, 1e-8, 0, 0.9, false),
  },
  {
    name: 'RMSprop centered',
    create: (model) => new RMSprop(model, { lr: 0.05, alpha: 0.9, eps: 1e-4, centered: true }),
    reference: rmspropReference(0.05, 0.9, 1e-4, 0, 0, true),
  },
  {
    name: 'RMSprop centered, with momentum and weight decay',
    create: (model) => new RMSprop(model, { lr: 0.05, alpha: 0.5, eps: 1e-3, weightDecay: 0.1, momentum: 0.5, centered: true }),
    reference: rmspropReference(0.05, 0.5, 1e-3, 0.1, 0.5, true),
  },
];

const STEPS = 3;

/** Sets every parameter's gradient to seeded normal values. */
function setGrads(model: Sequential, seed: number): void {
  model.namedParameters().forEach((p, i) => p.grad.set(normalMatrix(1, p.size, 100 * seed + i)));
}

/** All parameter values, in namedParameters() order, as one float64 vector. */
function flatValues(model: Sequential): Float64Array {
  return Float64Array.from(model.namedParameters().flatMap((p) => Array.from(p.value)));
}

function flatGrads(model: Sequential): Float64Array {
  return Float64Array.from(model.namedParameters().flatMap((p) => Array.from(p.grad)));
}

describe.each(BACKENDS)('optimizers on the %s backend', (backend) => {
  it.each(CASES)('$name follows its float64 reference for 3 steps', ({ create, reference }) => {
    const model = new Sequential([dense(3, 2)], { seed: 1, backend });
    const optimizer = create(model);
    model.namedParameters()[1].value.set([0.25, -0.5]);
    const expected = flatValues(model);
    const referenceStep = reference(expected.length);
    for (let step = 1; step <= STEPS; step++) {
      setGrads(model, step);
      referenceStep(expected, flatGrads(model));
      optimizer.step();
      const actual = flatValues(model);
      expectClose(actual, expected, cancellingArithmetic(largestMagnitude(expected)), `after step ${step}`);
    }
    expect(optimizer.stepCount).toBe(STEPS);
    model.dispose();
  });

  it.each(CASES)('$name leaves a frozen layer untouched, even with a gradient', ({ create }) => {
    const model = new Sequential([dense(3, 4, 'tanh'), dense(4, 2)], { seed: 2, backend });
    model.layers[0].trainable = false;
    const optimizer = create(model);
    const before = model.namedParameters().map((p) => p.value.slice());
    for (let step = 1; step <= STEPS; step++) {
      setGrads(model, step);
      optimizer.step();
    }
    const after = model.namedParameters();
    expect(sameBits(after[0].value, before[0])).toBe(true);
    expect(sameBits(after[1].value, before[1])).toBe(true);
    expect(sameBits(after[2].value, before[2])).toBe(false);
    expect(sameBits(after[3].value, before[3])).toBe(false);
    model.dispose();
  });

  it('bad options are refused, naming the option, and leave the model as it was', () => {
    const model = new Sequential([dense(3, 2)], { seed: 3, backend });
    new Adam(model, { lr: 0.1 }).step();
    const before = snapshot(model);
    const slots = model.stateSlotCount;
    const refusals: [() => unknown, RegExp][] = [
      [() => new Adam(model, { lr: -1 }), /lr must be a finite number ≥ 0, got number -1/],
      [() => new Adam(model, { betas: [1, 0.999] }), /betas\[0\] must be a finite number in \[0, 1\), got number 1/],
      [() => new Adam(model, { betas: [0.9, -0.1] }), /betas\[1\] must be a finite number in \[0, 1\), got number -0.1/],
      [() => new Adam(model, { betas: 0.9 as unknown as [number, number] }), /betas must be an array \[beta1, beta2\], got number 0.9/],
      [() => new Adam(model, { betas: [0.9] as unknown as [number, number] }), /betas must be an array .*length 1/],
      [() => new Adam(model, { eps: -1e-8 }), /eps must be a finite number ≥ 0/],
      [() => new Adam(model, { weightDecay: NaN }), /weightDecay must be a finite number ≥ 0, got number NaN/],
      [() => new AdamW(model, { lr: Infinity }), /lr must be a finite number ≥ 0, got number Infinity/],
      [() => new AdamW(model, { betas: [0.9, 1] }), /betas\[1\]/],
      [() => new AdamW(model, { weightDecay: -0.01 }), /weightDecay must be a finite number ≥ 0/],
      [() => new RMSprop(model, { lr: '0.1' as unknown as number }), /lr must be a finite number ≥ 0, got "0.1"/],
      [() => new RMSprop(model, { alpha: 1 }), /alpha must be a finite number in \[0, 1\), got number 1/],
      [() => new RMSprop(model, { eps: -1 }), /eps must be a finite number ≥ 0/],
      [() => new RMSprop(model, { weightDecay: -1 }), /weightDecay must be a finite number ≥ 0/],
      [() => new RMSprop(model, { momentum: -0.5 }), /momentum must be a finite number ≥ 0, got number -0.5/],
    ];
    for (const [create, message] of refusals) {
      expectError(create, 'OPTION', message);
    }
    expect(model.stateSlotCount).toBe(slots);
    expect(sameBits(snapshot(model), before)).toBe(true);
    model.dispose();
  });

  it('state slots: Adam two, RMSprop one more each for centered and momentum', () => {
    const model = new Sequential([dense(3, 2)], { seed: 4, backend });
    const slots = (): number => model.stateSlotCount;
    new Adam(model);
    expect(slots()).toBe(2);
    new AdamW(model);
    expect(slots()).toBe(4);
    new RMSprop(model);
    expect(slots()).toBe(5);
    new RMSprop(model, { centered: true, momentum: 0.9 });
    expect(slots()).toBe(8);
    model.dispose();
  });

  it('Adam trains the separable data set to ≥ 95% accuracy in 100 epochs', async () => {
    const { x, y } = linearlySeparable(100, 42);
    const model = new Sequential([dense(2, 4, 'relu'), dense(4, 1, 'sigmoid')], { seed: 1, backend });
    const optimizer = new Adam(model, { lr: 0.05 });
    await model.fit(x, y, { epochs: 100, batchSize: 100, loss: 'bce', optimizer, shuffle: false });
    const predictions = model.predict(x);
    let correct = 0;
    for (let r = 0; r < 100; r++) if ((predictions[r] > 0.5 ? 1 : 0) === y[r]) correct++;
    expect(correct).toBeGreaterThanOrEqual(95);
    model.dispose();
  });
});

describe('wasm and js follow the same trajectory', () => {
  it.each(CASES)('$name: 10 training steps', ({ create }) => {
    const x = normalMatrix(16, 5, 7);
    const labels = randomLabels(16, 3, 8);
    const trained = (backend: BackendName): Float64Array => {
      const model = new Sequential([dense(5, 8, 'tanh'), dense(8, 3)], { seed: 5, backend });
      const optimizer = create(model);
      for (let step = 0; step < 10; step++) model.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer });
      const values = flatValues(model);
      model.dispose();
      return values;
    };
    const js = trained('js');
    expectClose(trained('wasm'), js, afterSteps(10, largestMagnitude(js)), 'parameters after 10 steps');
  });
});

describe('threads change no bit', () => {
  const THREADED: { name: string; create: (model: Sequential) => Optimizer }[] = [
    { name: 'Adam with weight decay', create: (model) => new Adam(model, { lr: 0.01, weightDecay: 0.01 }) },
    { name: 'AdamW', create: (model) => new AdamW(model, { lr: 0.01 }) },
    { name: 'RMSprop', create: (model) => new RMSprop(model, { lr: 0.01 }) },
    { name: 'RMSprop centered with momentum', create: (model) => new RMSprop(model, { lr: 0.01, centered: true, momentum: 0.9 }) },
  ];

  // A block above the split threshold (2^16 parameters): the update runs in two shares on two threads.
  async function threeSteps(threads: number, create: (model: Sequential) => Optimizer): Promise<Float32Array> {
    await init({ threads });
    const model = new Sequential([dense(300, 256)], { seed: 6 });
    expect(model.backend.threads).toBe(threads);
    const optimizer = create(model);
    for (let step = 1; step <= STEPS; step++) {
      setGrads(model, step);
      optimizer.step();
    }
    const state = snapshot(model);
    model.dispose();
    return state;
  }

  it.each(THREADED)('$name on a 77,000-parameter block: 1 and 2 threads give the same bits', async ({ create }) => {
    try {
      const alone = await threeSteps(1, create);
      expect(sameBits(await threeSteps(2, create), alone)).toBe(true);
    } finally {
      await init();
    }
  });

  it('adam_update and rmsprop_update over 100,003 elements (a tail in the last share)', async () => {
    const backends: Backend[] = [await createWasmBackend({ threads: 1 }), await createWasmBackend({ threads: 2 })];
    try {
      const n = 100_003;
      // params, grads, expAvg, expAvgSq, squareAvg, gradAvg, momentumBuffer; squareAvg ≥ 1 > gradAvg².
      const starts = [
        normalMatrix(1, n, 1), normalMatrix(1, n, 2), normalMatrix(1, n, 3, 0.1), normalMatrix(1, n, 4).map((x) => x * x),
        normalMatrix(1, n, 5).map((x) => 1 + x * x), normalMatrix(1, n, 6, 0.1), normalMatrix(1, n, 7),
      ];
      const results = backends.map(({ heap, kernels }) => {
        const buffers = starts.map((values) => {
          const at = heap.alloc(n * 4);
          heap.f32.set(values, at >> 2);
          return at;
        });
        const [params, grads, expAvg, expAvgSq, squareAvg, gradAvg, momentumBuffer] = buffers;
        kernels.adam_update(params, grads, expAvg, expAvgSq, n, 0.01, 0.9, 0.999, 1e-8, 0.01, 0, 7);
        kernels.adam_update(params, grads, expAvg, expAvgSq, n, 0.01, 0.9, 0.999, 1e-8, 0.01, 1, 8);
        kernels.rmsprop_update(params, grads, squareAvg, gradAvg, momentumBuffer, n, 0.01, 0.99, 1e-8, 0.01, 0.9, 1);
        kernels.rmsprop_update(params, grads, squareAvg, 0, 0, n, 0.01, 0.99, 1e-8, 0, 0, 0);
        const values = buffers.map((at) => heap.f32.slice(at >> 2, (at >> 2) + n));
        buffers.forEach((at) => heap.free(at));
        return values;
      });
      results[0].forEach((values) => expect(values.every(Number.isFinite)).toBe(true));
      results[1].forEach((values, i) => expect(sameBits(values, results[0][i])).toBe(true));
    } finally {
      backends.forEach((backend) => backend.close());
    }
  });
});

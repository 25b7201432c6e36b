// Learning-rate schedules against PyTorch's closed forms, and gradient-norm clipping.
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, init, Sequential, SGD, SimdpropError } from '../../src/index.js';
import { clipGradNorm, clipGradValue } from '../../src/optim/clip.js';
import { CosineAnnealingLR, ExponentialLR, MultiStepLR, ReduceLROnPlateau, StepLR } from '../../src/optim/schedulers.js';
import { BACKENDS, normalMatrix } from '../model/setup.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

function optimizer(lr: number): SGD {
  return new SGD(new Sequential([dense(2, 1)], { backend: 'js' }), { lr });
}

/** The lr after each of `epochs` scheduler steps, starting with epoch 0's. */
function trace(step: () => void, read: () => number, epochs: number): number[] {
  const lrs = [read()];
  for (let epoch = 0; epoch < epochs; epoch++) {
    step();
    lrs.push(read());
  }
  return lrs;
}

describe('schedules', () => {
  it('StepLR: ×gamma every stepSize epochs', () => {
    const opt = optimizer(0.1);
    const scheduler = new StepLR(opt, { stepSize: 3, gamma: 0.5 });
    const lrs = trace(() => scheduler.step(), () => opt.lr, 7);
    expect(lrs).toEqual([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]);
  });

  it('MultiStepLR: ×gamma at each milestone', () => {
    const opt = optimizer(1);
    const scheduler = new MultiStepLR(opt, { milestones: [2, 5], gamma: 0.1 });
    const lrs = trace(() => scheduler.step(), () => opt.lr, 6);
    lrs.forEach((lr, epoch) => expect(lr).toBeCloseTo([1, 1, 0.1, 0.1, 0.1, 0.01, 0.01][epoch], 12));
  });

  it('ExponentialLR: ×gamma every epoch', () => {
    const opt = optimizer(2);
    const scheduler = new ExponentialLR(opt, { gamma: 0.9 });
    trace(() => scheduler.step(), () => opt.lr, 4).forEach((lr, epoch) => expect(lr).toBeCloseTo(2 * 0.9 ** epoch, 12));
  });

  it('CosineAnnealingLR: PyTorch closed form, after a linear warmup', () => {
    const opt = optimizer(0.1);
    const scheduler = new CosineAnnealingLR(opt, { tMax: 12, etaMin: 0.001, warmupEpochs: 2, warmupStartFactor: 0.1 });
    const lrs = trace(() => scheduler.step(), () => opt.lr, 14);
    expect(lrs[0]).toBeCloseTo(0.01, 12);
    expect(lrs[1]).toBeCloseTo(0.055, 12);
    for (let epoch = 2; epoch <= 12; epoch++) {
      const expected = 0.001 + ((0.1 - 0.001) * (1 + Math.cos((Math.PI * (epoch - 2)) / 10))) / 2;
      expect(lrs[epoch]).toBeCloseTo(expected, 12);
    }
    expect(lrs[2]).toBeCloseTo(0.1, 12);
    expect(lrs[13]).toBeCloseTo(0.001, 12);
    expect(lrs[14]).toBeCloseTo(0.001, 12);
  });

  it('ReduceLROnPlateau: drops after patience epochs without improvement, then cools down', () => {
    const opt = optimizer(1);
    const scheduler = new ReduceLROnPlateau(opt, { patience: 2, factor: 0.5, cooldown: 1, minLr: 0.2 });
    const losses = [5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4];
    const lrs = losses.map((loss) => {
      scheduler.step(loss);
      return opt.lr;
    });
    // Epochs 3–5 are bad: at the 5th, 3 bad epochs > patience 2 → lr 0.5, cooldown 1. The 6th is bad
    // but cooling down (count reset to 0); the 7th–9th count 1, 2, 3 → lr 0.25 at the 9th.
    expect(lrs).toEqual([1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25]);
    for (let i = 0; i < 20; i++) scheduler.step(4);
    expect(opt.lr).toBe(0.2);
  });

  it('ReduceLROnPlateau in max mode with an absolute threshold', () => {
    const opt = optimizer(1);
    const scheduler = new ReduceLROnPlateau(opt, { mode: 'max', patience: 0, thresholdMode: 'abs', threshold: 0.1 });
    scheduler.step(0.5);
    expect(opt.lr).toBe(1);
    scheduler.step(0.55); // not better by 0.1
    expect(opt.lr).toBeCloseTo(0.1, 12);
  });

  it('bad options name the option', () => {
    expect(() => new StepLR(optimizer(1), { stepSize: 0 })).toThrow(/stepSize must be a whole number ≥ 1, got number 0/);
    expect(() => new MultiStepLR(optimizer(1), { milestones: [3, 2] })).toThrow(/milestones must increase/);
    expect(() => new CosineAnnealingLR(optimizer(1), { tMax: 3, warmupEpochs: 3 })).toThrow(/warmupEpochs \(3\) must be less than tMax \(3\)/);
    expect(() => new ReduceLROnPlateau(optimizer(1), { factor: 1.5 })).toThrow(SimdpropError);
    expect(() => new ReduceLROnPlateau(optimizer(1)).step(NaN)).toThrow(/needs the epoch's metric/);
  });
});

describe.each(BACKENDS)('clipGradNorm on the %s backend', (backend) => {
  function withGradients(): Sequential {
    const model = new Sequential([dense(4, 3, 'tanh'), dense(3, 2)], { seed: 3, backend });
    model.forward(normalMatrix(5, 4, 1));
    model.loss('mse', normalMatrix(5, 2, 2).map((v) => 10 * v));
    model.backward();
    return model;
  }
  const norm = (model: Sequential): number =>
    Math.sqrt(model.namedParameters().reduce((sum, p) => sum + p.grad.reduce((s, g) => s + g * g, 0), 0));

  it('returns the norm before clipping and scales the gradients to maxNorm', () => {
    const model = withGradients();
    const before = norm(model);
    const grads = model.namedParameters().map((p) => p.grad.slice());
    const returned = clipGradNorm(model, before / 4);
    expect(returned).toBeCloseTo(before, 4);
    expect(norm(model)).toBeCloseTo(before / 4, 4);
    // Every gradient scaled by the same factor.
    model.namedParameters().forEach((p, i) => p.grad.forEach((g, j) => expect(g).toBeCloseTo(grads[i][j] * (before / 4) / (before + 1e-6), 5)));
    model.dispose();
  });

  it('leaves gradients below maxNorm as they are', () => {
    const model = withGradients();
    const grads = model.namedParameters().map((p) => p.grad.slice());
    clipGradNorm(model, norm(model) * 2);
    model.namedParameters().forEach((p, i) => expect(p.grad).toEqual(grads[i]));
    model.dispose();
  });

  it('throws on a non-finite norm when asked, changing nothing', () => {
    const model = withGradients();
    model.namedParameters()[0].grad[1] = NaN;
    const grads = model.namedParameters().map((p) => p.grad.slice());
    expect(() => clipGradNorm(model, 1, { errorIfNonfinite: true })).toThrow(/total gradient norm is NaN/);
    model.namedParameters().forEach((p, i) => expect(p.grad).toEqual(grads[i]));
    expect(clipGradNorm(model, 1)).toBeNaN();
    expect(() => clipGradNorm(model, 0)).toThrow(/maxNorm must be a positive finite number/);
    model.dispose();
  });

  it('trainStep({ clipNorm }) clips inside the step, on the tape and replayed, as clipGradNorm between backward and the update', () => {
    const x = normalMatrix(5, 4, 1);
    const y = normalMatrix(5, 2, 2).map((v) => 10 * v);
    const stepped = new Sequential([dense(4, 3, 'tanh'), dense(3, 2)], { seed: 3, backend });
    const manual = new Sequential([dense(4, 3, 'tanh'), dense(3, 2)], { seed: 3, backend });
    const [a, b] = [new SGD(stepped, { lr: 0.05, momentum: 0.9 }), new SGD(manual, { lr: 0.05, momentum: 0.9 })];
    // Steps at one clipNorm (the tape replays the second and third), then at another (recorded again).
    for (const maxNorm of [0.5, 0.5, 0.5, 2, 2]) {
      stepped.trainStep(x, y, { loss: 'mse', optimizer: a, clipNorm: maxNorm });
      manual.zeroGrad();
      manual.forward(x);
      manual.loss('mse', y);
      manual.backward();
      clipGradNorm(manual, maxNorm);
      b.step();
      stepped.namedParameters().forEach((p, i) => expect(p.value).toEqual(manual.namedParameters()[i].value));
    }
    expect(() => stepped.trainStep(x, y, { loss: 'mse', optimizer: a, clipNorm: -1 })).toThrow(/clipNorm must be a positive finite number/);
    stepped.dispose();
    manual.dispose();
  });

  it('clipGradValue clamps each gradient to ±value', () => {
    const model = withGradients();
    const grads = model.namedParameters().map((p) => p.grad.slice());
    const limit = Math.max(...grads.flatMap((g) => Array.from(g, Math.abs))) / 3;
    clipGradValue(model, limit);
    model.namedParameters().forEach((p, i) => p.grad.forEach((g, j) => expect(g).toBe(Math.max(-Math.fround(limit), Math.min(Math.fround(limit), grads[i][j])))));
    expect(() => clipGradValue(model, -1)).toThrow(/clipValue must be a positive finite number/);
    model.dispose();
  });
});

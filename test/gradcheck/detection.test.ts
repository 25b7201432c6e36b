// gradCheck must fail when a backward rule is wrong, and its float32 mode and eps warnings must work.
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { dense, getBackend, gradCheck, Sequential } from '../../src/index.js';
import { loadBackends, normalMatrix, randomLabels } from '../model/setup.js';

beforeAll(loadBackends);
afterEach(() => vi.restoreAllMocks());

describe('gradCheck', () => {
  it('fails when a backward kernel is off by 5%', () => {
    const kernels = getBackend('js').kernels;
    const original = kernels.tanh_backward;
    kernels.tanh_backward = (dz, da, a, n) => {
      original(dz, da, a, n);
      kernels.scale(dz, n, 1.05);
    };
    try {
      const model = new Sequential([dense(4, 5, 'tanh'), dense(5, 3)], { seed: 3, backend: 'js' });
      const result = gradCheck(model, normalMatrix(6, 4, 1), randomLabels(6, 3, 2), { loss: 'softmaxCrossEntropy' });
      expect(result.passed).toBe(false);
      const first = result.parameters.find((p) => p.name === 'layers.0.weight')!;
      expect(first.passed).toBe(false);
      expect(first.maxRelativeError).toBeGreaterThan(0.03);
      // The layer after the broken rule is unaffected.
      expect(result.parameters.find((p) => p.name === 'layers.1.weight')!.passed).toBe(true);
      model.dispose();
    } finally {
      kernels.tanh_backward = original;
    }
  });

  it('leaves parameters and accumulated gradients as they were', () => {
    const model = new Sequential([dense(3, 4, 'gelu'), dense(4, 2)], { seed: 5, backend: 'wasm' });
    const x = normalMatrix(5, 3, 7);
    model.forward(x);
    model.loss('mse', normalMatrix(5, 2, 8));
    model.backward();
    const before = model.namedParameters().map((p) => [p.value.slice(), p.grad.slice()]);
    gradCheck(model, x, normalMatrix(5, 2, 9), { loss: 'mse' });
    const after = model.namedParameters().map((p) => [p.value.slice(), p.grad.slice()]);
    expect(after).toEqual(before);
    model.dispose();
  });

  it('float32 mode checks through the backend itself, and passes at its default eps', () => {
    const model = new Sequential([dense(4, 6, 'tanh'), dense(6, 2, 'sigmoid')], { seed: 9, backend: 'wasm' });
    const result = gradCheck(model, normalMatrix(8, 4, 3), normalMatrix(8, 2, 4).map((v) => (v > 0 ? 1 : 0)), {
      loss: 'bce', precision: 'float32',
    });
    expect(result.eps).toBe(1e-2);
    expect(result.passed).toBe(true);
    expect(result.maxRelativeError).toBeGreaterThan(0);
    model.dispose();
  });

  it('warns when eps is too small for float32', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const model = new Sequential([dense(2, 2, 'tanh')], { seed: 1, backend: 'wasm' });
    const result = gradCheck(model, normalMatrix(3, 2, 1), normalMatrix(3, 2, 2), { loss: 'mse', precision: 'float32', eps: 1e-6 });
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]).toMatch(/too small for float32/);
    expect(warn).toHaveBeenCalledOnce();
    model.dispose();
  });
});

// Parameter groups, freezing, summary and inspection.
import { beforeAll, describe, expect, it } from 'vitest';
import { Adam, dense, dropout, init, Sequential, SGD, SimdpropError } from '../../src/index.js';
import { BACKENDS, normalMatrix, randomLabels, sameBits } from './setup.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe.each(BACKENDS)('on the %s backend', (backend) => {
  it('parameter groups: no weight decay on biases, a smaller lr for the first layer', () => {
    const model = new Sequential([dense(3, 4, 'tanh'), dense(4, 2)], { seed: 1, backend });
    const before = model.namedParameters().map((p) => p.value.slice());
    // Zero gradients: only weight decay moves parameters, so the groups' effect is exact to check.
    const optimizer = new SGD(model, { lr: 0.5, weightDecay: 0.1, groups: [{ params: 'bias', weightDecay: 0 }, { layers: [0], lrScale: 0.1 }] });
    model.namedParameters()[1].value.fill(1);
    model.namedParameters()[3].value.fill(1);
    optimizer.step();
    const [w0, b0, w1, b1] = model.namedParameters();
    w0.value.forEach((v, i) => expect(v).toBe(Math.fround(before[0][i] - Math.fround(0.05) * Math.fround(0.1 * before[0][i]))));
    w1.value.forEach((v, i) => expect(v).toBeCloseTo(before[2][i] * (1 - 0.05), 6));
    expect(Array.from(b0.value)).toEqual([1, 1, 1, 1]);
    expect(Array.from(b1.value)).toEqual([1, 1]);
    expect(() => new Adam(model, { groups: [{ layers: [2] }] })).toThrow(/groups\[0\]\.layers\[0\] is number 2: the model has dense layers 0 to 1/);
    model.dispose();
  });

  it('freeze and unfreeze', () => {
    const model = new Sequential([dense(3, 4, 'relu'), dense(4, 2)], { seed: 2, backend });
    const optimizer = new Adam(model, { lr: 0.1 });
    model.freeze(0);
    const before = model.namedParameters().map((p) => p.value.slice());
    model.trainStep(normalMatrix(4, 3, 1), randomLabels(4, 2, 2), { loss: 'softmaxCrossEntropy', optimizer });
    const after = model.namedParameters();
    expect(sameBits(after[0].value, before[0])).toBe(true);
    expect(sameBits(after[2].value, before[2])).toBe(false);
    model.unfreeze();
    expect(model.layers.every((layer) => layer.trainable)).toBe(true);
    expect(() => model.freeze(5)).toThrow(SimdpropError);
    model.dispose();
  });

  it('summary lists layers, counts and memory', () => {
    const model = new Sequential([dense(784, 128, 'relu'), dropout(0.2), dense(128, 10)], { seed: 3, backend }).freeze(1);
    const text = model.summary();
    expect(text).toMatch(/dense 784→128 relu\s+\[batch, 128\]\s+100,480\s+yes/);
    expect(text).toMatch(/dropout 0\.2/);
    expect(text).toMatch(/dense 128→10 linear\s+\[batch, 10\]\s+1,290\s+frozen/);
    expect(text).toMatch(/parameters: 101,770 \(100,480 trainable\)/);
    expect(text).toMatch(/memory: [\d,]+ bytes on /);
    model.dispose();
  });

  it('inspect shows each layer\'s z, a, output and dz as views', () => {
    const model = new Sequential([dense(3, 4, 'relu'), dense(4, 2)], { seed: 4, backend });
    expect(() => model.inspect()).toThrow(/needs a forward/);
    const out = model.forward(normalMatrix(5, 3, 1)).slice();
    const layers = model.inspect();
    expect(layers.map((l) => l.a.length)).toEqual([20, 10]);
    layers[0].a.forEach((v, i) => expect(v).toBe(Math.max(0, layers[0].z[i])));
    expect(sameBits(layers[1].output.slice(), out)).toBe(true);
    expect(layers[0].dz).toBeUndefined();
    model.loss('mse', normalMatrix(5, 2, 2));
    model.backward();
    const after = model.inspect();
    after[0].dz!.forEach((g, i) => { if (after[0].a[i] === 0) expect(g).toBe(0); });
    expect(after[1].dz!.some((g) => g !== 0)).toBe(true);
    model.dispose();
  });
});

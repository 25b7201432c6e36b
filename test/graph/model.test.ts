// Graph models through the public API: how a graph is checked when it is made, the forms inputs and
// outputs take, training on several outputs, freezing and groups by name and tag, the files that
// rebuild a graph bit-exactly, and a model left exactly as it was after any error.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Adam, AdamW, activation, add, concat, customLayer, dense, diagnose, dropout, embedding, flatten, gradCheck, init, input, layerNorm,
  Model, multiply, reshape, Rng, SGD, SimdpropError, type BackendName,
} from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { indices, normals } from '../layers/harness.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

const bits = (values: Float32Array): Uint32Array => new Uint32Array(Float32Array.from(values).buffer);

/** Two inputs by name, two outputs by name: a small model with most layer kinds in it. */
function twoHeaded(backend: BackendName, seed = 3): Model {
  const image = input([2, 3], { name: 'image' });
  const tokens = input([2], { dtype: 'int32', name: 'tokens' });
  const e = embedding(5, 3, { name: 'embed' }).apply(tokens);
  const h = layerNorm(3, { name: 'norm' }).apply(add(dense(3, 3, 'tanh', { name: 'proj' }).apply(image), e));
  const flat = flatten().apply(concat([h, multiply(h, e)]));
  const hidden = dropout(0.25).apply(dense(12, 8, 'relu', { name: 'hidden' }).apply(flat));
  return new Model({
    inputs: { image, tokens },
    outputs: { label: dense(8, 3, 'linear', { name: 'label' }).apply(hidden), score: dense(8, 1, 'sigmoid', { name: 'score' }).apply(hidden) },
  }, { seed, backend });
}

const batchOf = (rows: number, seed: number) => {
  const rng = new Rng(seed);
  return {
    x: { image: normals(rng, rows * 6), tokens: indices(rng, rows * 2, 5) },
    y: { label: indices(rng, rows, 3), score: Float32Array.from({ length: rows }, () => rng.uniform()) },
  };
};
const twoLosses = { loss: { label: 'softmaxCrossEntropy', score: 'bce' } as const, lossWeights: { score: 2 } };

describe('a graph is checked when it is made', () => {
  it('refuses an input that is not part of the graph, and an output made from an input not given', () => {
    const a = input([3], { name: 'a' });
    const b = input([3], { name: 'b' });
    const out = dense(3, 2).apply(a);
    expectError(() => new Model({ inputs: [a, b], outputs: out }), 'GRAPH', /input "b" \[3\] is not part of the graph: no output depends on it/);
    expectError(() => new Model({ inputs: b, outputs: out }), 'GRAPH', /the output of dense \[2\] depends on input "a" \[3\], which is not among the model's inputs/);
    expectError(() => new Model({ inputs: out, outputs: out }), 'GRAPH', /inputs\[0\] must be a tensor made by input\(\)/);
  });

  it('refuses a name used twice, by two layers or two inputs', () => {
    const x = input([3]);
    const h = dense(3, 3, 'linear', { name: 'fc' }).apply(x);
    expectError(() => new Model({ inputs: x, outputs: dense(3, 2, 'linear', { name: 'fc' }).apply(h) }), 'GRAPH', /two layers of the model are named "fc"/);
    const [p, q] = [input([2], { name: 'same' }), input([2], { name: 'same' })];
    expectError(() => new Model({ inputs: [p, q], outputs: add(p, q) }), 'GRAPH', /two inputs named "same"/);
  });

  it('names unnamed layers stably, and a layer applied twice once', () => {
    const x = input([4]);
    const shared = dense(4, 4, 'tanh');
    const model = new Model({ inputs: x, outputs: dense(4, 2).apply(shared.apply(shared.apply(x))) }, { backend: 'js' });
    expect(model.namedParameters().map((p) => p.name)).toEqual(['dense_0.weight', 'dense_0.bias', 'dense_1.weight', 'dense_1.bias']);
    expect(model.parameterCount).toBe(4 * 4 + 4 + 4 * 2 + 2);
    model.dispose();
  });
});

describe('inputs and outputs: one, an array, or a record by name', () => {
  it('forward and predict give outputs in the form the model was made with; predict runs in chunks', () => {
    const model = twoHeaded('wasm');
    model.eval();
    const { x } = batchOf(2100, 1);
    const out = model.forward({ image: x.image.subarray(0, 30), tokens: x.tokens.subarray(0, 10) }) as Record<string, Float32Array>;
    expect(Object.keys(out)).toEqual(['label', 'score']);
    expect(out.label.length).toBe(15);
    const label = out.label.slice();
    const predicted = model.predict(x) as Record<string, Float32Array>;
    expect(predicted.score.length).toBe(2100);
    expect(bits(predicted.label.subarray(0, 15))).toEqual(bits(label));
    // The same inputs as an array in the model's order.
    const again = model.forward([x.image.subarray(0, 30), x.tokens.subarray(0, 10)]) as Record<string, Float32Array>;
    expect(bits(again.label)).toEqual(bits(label));
    model.dispose();
  });

  it('names the input or output a bad batch belongs to', () => {
    const model = twoHeaded('js');
    const { x, y } = batchOf(4, 2);
    expectError(() => model.forward({ image: x.image, tokens: x.tokens.subarray(0, 6) }), 'SHAPE', /x\.tokens has 3 rows, but x\.image has 4/);
    expectError(() => model.forward({ image: x.image, tokenz: x.tokens } as never), 'SHAPE', /x names inputs "tokenz", but the model's inputs are image, tokens/);
    expectError(() => model.forward(x.image), 'TYPE', /x must give each of the model's 2 inputs \(image, tokens\)/);
    model.forward(x);
    expectError(() => model.loss(twoLosses.loss, { label: y.label, score: y.score.subarray(0, 3) }, twoLosses), 'SHAPE', /y\.score must have 4 rows \(one per input row\), got 3/);
    expectError(() => model.loss({ label: 'bce', score: 'bceWithLogits' }, y), 'OPTION', /bceWithLogits takes logits, but the last layer applies sigmoid/);
    model.dispose();
  });
});

describe('training on several outputs', () => {
  it('sums the weighted losses, and backward(dOut) with one gradient per output gives the same gradients', () => {
    const a = twoHeaded('js', 4).eval();
    const b = twoHeaded('js', 4).eval();
    const { x, y } = batchOf(6, 3);
    a.forward(x);
    const total = a.loss(twoLosses.loss, y, twoLosses);
    const separate = a.loss({ label: 'softmaxCrossEntropy' }, y) + 2 * a.loss({ score: 'bce' }, y);
    expect(total).toBeCloseTo(separate, 6);
    a.loss(twoLosses.loss, y, twoLosses);
    a.backward();
    // The same by hand: PyTorch's mean-reduced gradients, the score's weighted by 2.
    const out = b.forward(x) as Record<string, Float32Array>;
    const dLabel = new Float32Array(18);
    for (let r = 0; r < 6; r++) {
      const row = Array.from(out.label.subarray(r * 3, r * 3 + 3));
      const max = Math.max(...row);
      const sum = row.reduce((s, v) => s + Math.exp(v - max), 0);
      row.forEach((v, j) => (dLabel[r * 3 + j] = (Math.exp(v - max) / sum - (j === y.label[r] ? 1 : 0)) / 6));
    }
    const dScore = Float32Array.from(out.score, (p, r) => (2 * (p - y.score[r])) / Math.max(p * (1 - p), 1e-12) / 6);
    b.backward({ label: dLabel, score: dScore });
    a.namedParameters().forEach((p, i) => p.grad.forEach((g, j) => expect(b.namedParameters()[i].grad[j]).toBeCloseTo(g, 5)));
    [a, b].forEach((m) => m.dispose());
  });

  it('a loss record or weights edited in place between calls are read again', () => {
    const model = twoHeaded('js', 4).eval();
    const { x, y } = batchOf(6, 3);
    model.forward(x);
    const loss: Record<string, 'softmaxCrossEntropy' | 'bce' | 'mse'> = { label: 'softmaxCrossEntropy', score: 'bce' };
    const options = { lossWeights: { score: 2 } as Record<string, number> };
    const first = model.loss(loss, y, options);
    expect(model.loss(loss, y, options)).toBe(first);
    loss.score = 'mse';
    expect(model.loss(loss, y, options)).toBe(model.loss({ label: 'softmaxCrossEntropy', score: 'mse' }, y, { lossWeights: { score: 2 } }));
    options.lossWeights.score = 0;
    expect(model.loss(loss, y, options)).toBe(model.loss({ label: 'softmaxCrossEntropy' }, y));
    expect(model.loss(loss, y, options)).not.toBe(first);
    model.dispose();
  });

  it('fit and evaluate take several inputs and outputs, and log each output\'s loss and metrics', async () => {
    const model = twoHeaded('wasm');
    const { x, y } = batchOf(64, 5);
    const optimizer = new Adam(model, { lr: 0.01 });
    const history = await model.fit(x, y, { ...twoLosses, optimizer, epochs: 3, batchSize: 16, metrics: ['accuracy'], validationSplit: 0.25 });
    expect(history.epochs).toBe(3);
    expect(history.loss[2]).toBeLessThan(history.loss[0]);
    expect(Object.keys(history.metrics).sort()).toEqual([
      'labelAccuracy', 'labelLoss', 'scoreAccuracy', 'scoreLoss', 'valLabelAccuracy', 'valLabelLoss', 'valScoreAccuracy', 'valScoreLoss',
    ]);
    // The total is the weighted sum of the outputs' losses (the score's weight is 2).
    for (let e = 0; e < 3; e++) {
      expect(history.loss[e]).toBeCloseTo(history.metrics.labelLoss[e] + 2 * history.metrics.scoreLoss[e], 5);
      expect(history.valLoss![e]).toBeCloseTo(history.metrics.valLabelLoss[e] + 2 * history.metrics.valScoreLoss[e], 5);
    }
    const logs = model.evaluate(x, y, { ...twoLosses, metrics: ['accuracy'] });
    expect(logs.loss).toBeGreaterThan(0);
    expect(logs.labelAccuracy).toBeGreaterThanOrEqual(0);
    expect(logs.loss).toBeCloseTo(logs.labelLoss + 2 * logs.scoreLoss, 5);
    model.dispose();
  });

  it('gradCheck, diagnose and inputGrad work on a graph', () => {
    const model = twoHeaded('js').eval();
    const { x, y } = batchOf(5, 6);
    expect(gradCheck(model, x, y, twoLosses).passed).toBe(true);
    const report = diagnose(model, x, y, twoLosses);
    expect(report.layers.map((l) => l.name)).toEqual(['proj', 'embed', 'norm', 'hidden', 'label', 'score']);
    model.forward(x);
    model.loss(twoLosses.loss, y, twoLosses);
    model.backward();
    expect(model.inputGrad('image').length).toBe(30);
    expectError(() => model.inputGrad('tokens'), 'TYPE', /int32 indices, which have no gradient/);
    model.dispose();
  });

  it('after a bad step the model is bit-identical: params, gradients, optimizer state', () => {
    const model = twoHeaded('wasm');
    const optimizer = new AdamW(model, { lr: 0.01 });
    const { x, y } = batchOf(8, 7);
    model.trainStep(x, y, { ...twoLosses, optimizer });
    const before = model.namedParameters().map((p) => [p.value.slice(), p.grad.slice()]);
    const state = optimizer.stateForSaving().slots.map((s) => s.slice());
    const badTokens = { image: x.image, tokens: Int32Array.from(x.tokens, (t, i) => (i === 5 ? 9 : t)) };
    expectError(() => model.trainStep(badTokens, y, { ...twoLosses, optimizer }), 'LABEL', /x\.tokens\[5\] is number 9: indices must be integers in \[0, 4\]/);
    const badScore = { label: y.label, score: Float32Array.from(y.score, (s, i) => (i === 2 ? 1.5 : s)) };
    expectError(() => model.trainStep(x, badScore, { ...twoLosses, optimizer }), 'TARGET', /y\.score holds 1\.5 at row 2/);
    const nanImage = { image: Float32Array.from(x.image, (v, i) => (i === 7 ? NaN : v)), tokens: x.tokens };
    expectError(() => model.trainStep(nanImage, y, { ...twoLosses, optimizer }), 'NOT_FINITE', /x\.image holds NaN at row 1, column 1/);
    expect(optimizer.stepCount).toBe(1);
    model.namedParameters().forEach((p, i) => {
      expect(bits(p.value)).toEqual(bits(before[i][0]));
      expect(bits(p.grad)).toEqual(bits(before[i][1]));
    });
    optimizer.stateForSaving().slots.forEach((s, i) => expect(bits(s)).toEqual(bits(state[i])));
    model.dispose();
  });
});

describe('freezing and optimizer groups by name and by tag', () => {
  it('freeze by layer name: no gradient, no update', () => {
    const model = twoHeaded('wasm').freeze('embed', 'norm');
    const optimizer = new SGD(model, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 });
    const before = model.namedParameters().map((p) => p.value.slice());
    const { x, y } = batchOf(8, 8);
    model.trainStep(x, y, { ...twoLosses, optimizer });
    model.namedParameters().forEach((p, i) => {
      const frozen = p.name.startsWith('embed.') || p.name.startsWith('norm.');
      expect(bits(p.value).every((v, j) => v === bits(before[i])[j]), p.name).toBe(frozen);
      if (frozen) expect(p.grad.every((g) => g === 0)).toBe(true);
    });
    model.dispose();
  });

  it('no weight decay on biases and norm parameters (tag noDecay), a smaller lr for one layer by name', () => {
    const model = twoHeaded('js');
    const optimizer = new AdamW(model, { lr: 0.01, weightDecay: 0.5, groups: [{ params: 'noDecay', weightDecay: 0 }, { layers: ['label'], lrScale: 0 }] });
    model.zeroGrad();
    const before = model.namedParameters().map((p) => p.value.slice());
    optimizer.step();
    model.namedParameters().forEach((p, i) => {
      const unchanged = p.tags.includes('noDecay') || p.name.startsWith('label.');
      expect(bits(p.value).every((v, j) => v === bits(before[i])[j]), p.name).toBe(unchanged);
    });
    expect(() => new AdamW(model, { groups: [{ params: 'nodecay' }] })).toThrow(/groups\[0\]\.params must be a tag of the model's parameters \(weight, decay, bias, noDecay\), got "nodecay"/);
    expect(() => new AdamW(model, { groups: [{ layers: ['nope'] }] })).toThrow(/groups\[0\]\.layers\[0\] is "nope": the model has no layer of that name/);
    model.dispose();
  });
});

describe('files: save() keeps the graph, Model.load() rebuilds it bit-exactly', () => {
  it('every layer kind, the optimizer state, and training that resumes exactly', () => {
    const model = twoHeaded('wasm');
    const optimizer = new Adam(model, { lr: 0.01 });
    for (let step = 0; step < 3; step++) {
      const { x, y } = batchOf(8, 10 + step);
      model.trainStep(x, y, { ...twoLosses, optimizer });
    }
    const bytes = model.save({ optimizer });
    const loaded = Model.load(bytes, { backend: 'wasm' });
    expect(loaded.inputNames).toEqual(['image', 'tokens']);
    expect(loaded.outputNames).toEqual(['label', 'score']);
    loaded.namedParameters().forEach((p, i) => expect(bits(p.value)).toEqual(bits(model.namedParameters()[i].value)));
    const resumed = new Adam(loaded, { lr: 0.01 });
    resumed.loadState(bytes);
    for (let step = 3; step < 6; step++) {
      const { x, y } = batchOf(8, 10 + step);
      const a = model.trainStep(x, y, { ...twoLosses, optimizer });
      const b = loaded.trainStep(x, y, { ...twoLosses, optimizer: resumed });
      expect(Object.is(a, b)).toBe(true);
    }
    [model, loaded].forEach((m) => m.dispose());
  });

  it('the file holds PyTorch\'s names and layouts; a corrupt graph or unknown kind is a FILE error', () => {
    const x = input([4]);
    const model = new Model({ inputs: x, outputs: reshape([2, 1]).apply(dense(4, 2, 'linear', { name: 'blocks.0.fc' }).apply(x)) }, { backend: 'js' });
    const state = model.stateDict();
    expect(state.map((t) => [t.name, t.shape])).toEqual([['blocks.0.fc.weight', [2, 4]], ['blocks.0.fc.bias', [2]]]);
    const bytes = model.save();
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)))));
    expect(header['blocks.0.fc.weight'].shape).toEqual([2, 4]);
    const graph = JSON.parse(header.__metadata__.graph);
    graph.layers[0].kind = 'mystery';
    header.__metadata__.graph = JSON.stringify(graph);
    const json = new TextEncoder().encode(JSON.stringify(header));
    const data = bytes.subarray(8 + Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true)));
    const forged = new Uint8Array(8 + json.length + data.length);
    new DataView(forged.buffer).setBigUint64(0, BigInt(json.length), true);
    forged.set(json, 8);
    forged.set(data, 8 + json.length);
    expectError(() => Model.load(forged), 'FILE', /layer of kind "mystery", which simdprop does not know/);
    model.dispose();
  });

  it('a custom layer is remade by the factory given for its kind', () => {
    const twice = () => customLayer({
      kind: 'twice',
      forward: ({ inputs: [a], output }) => output.set(a.map((v) => 2 * v)),
      backward: ({ outputGrad, inputGrads: [da] }) => da?.set(outputGrad.map((g) => 2 * g)),
    });
    const x = input([3]);
    const model = new Model({ inputs: x, outputs: dense(3, 2).apply(twice().apply(x)) }, { backend: 'js' });
    const bytes = model.save();
    expectError(() => Model.load(bytes), 'FILE', /kind "twice", which simdprop does not know \(pass \{ layers: \{ twice: \(config\) => layer \} \}/);
    const loaded = Model.load(bytes, { backend: 'js', layers: { twice } });
    const batch = Float32Array.of(1, 2, 3);
    expect(Array.from(loaded.predict(batch) as Float32Array)).toEqual(Array.from(model.predict(batch) as Float32Array));
    [model, loaded].forEach((m) => m.dispose());
  });
});

describe('the summary of a graph', () => {
  it('lists inputs, layers (fused ones too), shapes and parameter counts', () => {
    const x = input([3, 4], { name: 'x' });
    const h = activation('relu').apply(dense(4, 5).apply(x));
    const model = new Model({ inputs: x, outputs: dense(5, 1).apply(layerNorm(5).apply(h)) }, { backend: 'js' });
    const text = model.summary();
    expect(text).toMatch(/x\s+input\s+\[batch, 3, 4\]/);
    expect(text).toMatch(/dense_0\s+dense\s+25\s+yes/);
    expect(text).toMatch(/activation_0\s+activation\s+\[batch, 3, 5\]/);
    expect(text).toMatch(/layer_norm_0\s+layerNorm\s+\[batch, 3, 5\]\s+10\s+yes/);
    expect(text).toMatch(/parameters: 41 \(41 trainable\)/);
    model.dispose();
  });
});

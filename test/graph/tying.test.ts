// Weight tying (one parameter shared by two layers: a language model's head and its token embedding,
// or two dense layers) and learned positions: gradients against float64 central differences, the tied
// gradient the sum of both uses in a step as in backward(), one tensor in files and state_dicts that
// list it under both names, layer initializers, and the errors.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add, dense, embedding, gradCheck, init, input, layerNorm, Model, positionEmbedding, Rng, SGD, type BackendName,
} from '../../src/index.js';
import { writeSafetensors, type TensorEntry } from '../../src/io/safetensors.js';
import { expectError } from '../expect-error.js';
import { indices, normals } from '../layers/harness.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

const V = 7;
const C = 5;
const T = 4;

/** Tokens → wte + positions → layer norm → a head tied to wte (with a bias when asked), per-position logits. */
function tiedLanguageModel(backend: BackendName, options: { headBias?: boolean; fanOut?: boolean } = {}): Model {
  const tokens = input([T], { dtype: 'int32', name: 'tokens' });
  const wte = embedding(V, C, { name: 'transformer.wte' });
  const x = positionEmbedding(T + 2, C, { name: 'transformer.wpe' }).apply(wte.apply(tokens));
  let h = layerNorm(C, { name: 'ln_f' }).apply(x);
  // The head's input read twice: its input gradient is added to another's.
  if (options.fanOut) h = add(h, dense(C, C, 'tanh', { name: 'side' }).apply(h));
  const head = dense(C, V, 'linear', { bias: options.headBias ?? false, tiedTo: wte, name: 'lm_head' });
  return new Model({ inputs: tokens, outputs: head.apply(h) }, { seed: 5, backend });
}

const batch = (rows: number, seed: number) => {
  const rng = new Rng(seed);
  return { x: indices(rng, rows * T, V), y: indices(rng, rows * T, V) };
};

describe.each(['js', 'wasm'] as const)('tied weights on the %s backend', (backend) => {
  it.each([
    ['a head without bias', {}],
    ['a head with a bias (its own parameter beside the tied one)', { headBias: true }],
    ['a head whose input is read twice', { fanOut: true }],
  ])('gradients of %s match float64 central differences', (_, options) => {
    const model = tiedLanguageModel(backend, options);
    const { x, y } = batch(3, 1);
    const result = gradCheck(model, x, y, { loss: 'softmaxCrossEntropy' });
    expect(result.passed).toBe(true);
    expect(result.maxRelativeError).toBeLessThan(1e-3);
    const names = result.parameters.map((p) => p.name);
    expect(names).toContain('transformer.wte.weight');
    expect(names).not.toContain('lm_head.weight');
    expect(result.parameters.find((p) => p.name === 'transformer.wte.weight')!.largestGradient).toBeGreaterThan(1e-3);
    model.dispose();
  });

  it.each([{}, { headBias: true }, { fanOut: true }])('a step writes the same gradients backward() sums from zero (%o)', (options) => {
    const model = tiedLanguageModel(backend, options);
    const { x, y } = batch(4, 2);
    model.zeroGrad();
    model.forward(x);
    model.loss('softmaxCrossEntropy', y);
    model.backward();
    const summed = model.namedParameters().map((p) => p.grad.slice());
    // Garbage in the gradients first: a step must write ("=") every one, the tied one as the sum of both uses.
    for (const p of model.namedParameters()) p.grad.fill(Number.NaN);
    model.trainStep(x, y, { loss: 'softmaxCrossEntropy', optimizer: new SGD(model, { lr: 0 }) });
    model.namedParameters().forEach((p, i) => {
      for (let j = 0; j < p.grad.length; j++) expect(p.grad[j]).toBeCloseTo(summed[i][j], 5);
    });
    model.dispose();
  });

  it('counts and lists the tied tensor once, saves it once, and loads a file back bit-exactly', () => {
    const model = tiedLanguageModel(backend, { headBias: true });
    expect(model.namedParameters().map((p) => p.name)).toEqual(['transformer.wte.weight', 'transformer.wpe.weight', 'ln_f.weight', 'ln_f.bias', 'lm_head.bias']);
    expect(model.parameterCount).toBe(V * C + (T + 2) * C + 2 * C + V);
    // The summary counts the tied tensor with its owner, and names it on the layer tied to it.
    expect(model.summary()).toMatch(/transformer\.wte +embedding +\[batch, 4, 5\] +35 +yes/);
    expect(model.summary()).toMatch(/lm_head +dense +\[batch, 4, 7\] +7 \+ transformer\.wte\.weight \(tied\) +yes/);
    const names = model.stateDict().map((t) => t.name);
    expect(names).toEqual(['transformer.wte.weight', 'transformer.wpe.weight', 'ln_f.weight', 'ln_f.bias', 'lm_head.bias']);
    const { x, y } = batch(2, 3);
    const optimizer = new SGD(model, { lr: 0.1 });
    for (let i = 0; i < 3; i++) model.trainStep(x, y, { loss: 'softmaxCrossEntropy', optimizer });
    const before = (model.forward(x) as Float32Array).slice();
    const again = Model.load(model.save(), { backend });
    expect(new Uint32Array((again.forward(x) as Float32Array).slice().buffer)).toEqual(new Uint32Array(before.buffer));
    // The rebuilt head is still tied: a step moves both uses of the one tensor.
    expect(again.namedParameters().map((p) => p.name)).toEqual(names);
    again.dispose();
    model.dispose();
  });

  it('loads a state_dict that lists the tied tensor under both names, or under either, and refuses two different values', () => {
    const model = tiedLanguageModel(backend);
    const rng = new Rng(9);
    const table = normals(rng, V * C);
    const rest = model.stateDict().filter((t) => t.name !== 'transformer.wte.weight');
    const file = (tied: Record<string, Float32Array>) => writeSafetensors([
      ...Object.entries(tied).map(([name, data]): [string, TensorEntry] => [name, { dtype: 'F32', shape: [V, C], data }]),
      ...rest.map((t): [string, TensorEntry] => [t.name, { dtype: 'F32', shape: [...t.shape], data: t.data as Float32Array }]),
    ], {});
    const wte = () => model.namedParameters()[0].value;
    expect(model.loadStateDict(file({ 'transformer.wte.weight': table, 'lm_head.weight': table }))).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(wte()).toEqual(table);
    const other = normals(rng, V * C);
    expect(model.loadStateDict(file({ 'lm_head.weight': other }))).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(wte()).toEqual(other);
    const changed = table.slice();
    changed[3] += 1;
    expectError(() => model.loadStateDict(file({ 'transformer.wte.weight': table, 'lm_head.weight': changed })), 'FILE',
      /tied tensors with different values: transformer\.wte\.weight and lm_head\.weight are one parameter/);
    expect(wte()).toEqual(other);
    model.dispose();
  });
});

describe('ties, positions and initializers are checked', () => {
  it('refuses a tie of the wrong sizes, to a layer outside the model, or to a layer of another kind', () => {
    const wte = embedding(V, C);
    expectError(() => dense(C, V + 1, 'linear', { tiedTo: wte }), 'SHAPE', /cannot tie its weight to embedding's table \[7, 5\]/);
    expectError(() => dense(C, V, 'linear', { tiedTo: layerNorm(5) as never }), 'OPTION', /ties its weight to an embedding or another dense layer/);
    const x = input([C]);
    expectError(() => new Model({ inputs: x, outputs: dense(C, V, 'linear', { tiedTo: wte, name: 'head' }).apply(x) }), 'GRAPH',
      /dense "head" is tied to embedding, which is not part of the model/);
  });

  it('two dense layers of one size can share a weight, saved once', () => {
    const x = input([4]);
    const first = dense(4, 4, 'tanh', { name: 'a' });
    const second = dense(4, 4, 'linear', { name: 'b', tiedTo: first });
    const model = new Model({ inputs: x, outputs: second.apply(first.apply(x)) }, { seed: 2, backend: 'wasm' });
    expect(model.namedParameters().map((p) => p.name)).toEqual(['a.weight', 'a.bias', 'b.bias']);
    const rng = new Rng(4);
    const result = gradCheck(model, normals(rng, 12), normals(rng, 12), { loss: 'mse' });
    expect(result.passed).toBe(true);
    model.dispose();
  });

  it('positionEmbedding adds its first T rows to every sample, and refuses more positions than it has', () => {
    const x = input([2, 3]);
    const layer = positionEmbedding(4, 3, { name: 'wpe', init: { weight: { kind: 'ones' } } });
    const model = new Model({ inputs: x, outputs: layer.apply(x) }, { backend: 'wasm' });
    expect(Array.from(model.forward(new Float32Array([0, 1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 60])) as Float32Array))
      .toEqual([1, 2, 3, 4, 5, 6, 11, 21, 31, 41, 51, 61]);
    model.dispose();
    expectError(() => positionEmbedding(2, 3).apply(input([3, 3])), 'SHAPE', /positionEmbedding takes \[T, 3\] with T ≤ 2 positions, but input 0 is \[3, 3\]/);
  });

  it('init replaces a parameter\'s initializer by name, and refuses names the layer does not have', () => {
    const x = input([3]);
    const model = new Model({ inputs: x, outputs: dense(3, 2, 'linear', { init: { weight: { kind: 'zeros' }, bias: { kind: 'ones' } } }).apply(x) });
    expect(Array.from(model.namedParameters()[0].value)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(model.namedParameters()[1].value)).toEqual([1, 1]);
    model.dispose();
    expectError(() => new Model({ inputs: x, outputs: dense(3, 2, 'linear', { init: { kernel: { kind: 'ones' } } }).apply(x) }), 'OPTION',
      /dense has no parameter kernel of its own to initialize: its parameters are weight, bias/);
    expectError(() => dense(3, 2, 'linear', { init: { weight: { kind: 'normal' } as never } }), 'OPTION', /init\.weight must be/);
  });
});

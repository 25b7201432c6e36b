// Graph models against PyTorch: reference modules built by test/fixtures/torch/make_fixtures.py (run
// with Debian's python3-torch; its outputs are committed, so CI needs no PyTorch). The same graph made
// through simdprop's public API loads PyTorch's state_dict by name, gives its outputs, loss and every
// parameter's gradient, and follows its losses and weights step by step under AdamW (and SGD).
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  activation, add, AdamW, concat, dense, embedding, init, input, layerNorm, Model, multiply, SGD, SimdpropError,
  type BackendName,
} from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { expectClose, ofTensor } from '../tolerance.js';
import { torchLayout } from './layout.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/torch/${name}`, import.meta.url));

interface GraphFixture {
  B: number;
  T: number;
  shapes: Record<string, number[]>;
  tokens: number[];
  feats: number[];
  labels: number[];
  valueTargets: number[];
  logits: number[];
  value: number[];
  loss: number;
  ceLoss: number;
  mseLoss: number;
  grads: Record<string, number[]>;
  adamw: { lr: number; betas: [number, number]; eps: number; weightDecay: number; losses: number[]; params: Record<string, number[]> };
}

interface MlpFixture {
  x: number[];
  labels: number[];
  logits: number[];
  loss: number;
  grads: Record<string, number[]>;
  sgd: { lr: number; momentum: number; losses: number[] };
}

const graphData = JSON.parse(fixture('graph.json').toString()) as GraphFixture;
const mlpData = JSON.parse(fixture('mlp.json').toString()) as MlpFixture;

beforeAll(async () => {
  await init({ threads: 1 });
});

/** The module of make_fixtures.py's Net, made with simdprop's graph API and PyTorch's attribute names. */
function graphModel(backend: BackendName): Model {
  const { T } = graphData;
  const tokens = input([T], { dtype: 'int32', name: 'tokens' });
  const feats = input([T, 5], { name: 'feats' });
  const e = embedding(11, 8, { name: 'tok' }).apply(tokens);
  const f = dense(5, 8, 'gelu', { name: 'fc_in' }).apply(feats);
  const h = layerNorm(8, { name: 'ln' }).apply(add(e, f));
  const shared = dense(8, 8, 'linear', { name: 'shared' });
  const s1 = activation('relu').apply(shared.apply(h));
  const s2 = add(shared.apply(s1), h);
  const logits = dense(16, 3, 'linear', { name: 'head_a' }).apply(concat([s2, h]));
  const value = dense(8, 1, 'linear', { name: 'head_b' }).apply(multiply(s2, h));
  return new Model({ inputs: { tokens, feats }, outputs: { logits, value } }, { seed: 99, backend });
}

/** make_fixtures.py's MLP: residual blocks x + fc(relu(norm(x))). */
function mlpModel(backend: BackendName): Model {
  const x = input([6]);
  let h = dense(6, 10, 'linear', { name: 'inp' }).apply(x);
  for (let b = 0; b < 2; b++) {
    const n = layerNorm(10, { name: `blocks.${b}.norm` }).apply(h);
    h = add(h, dense(10, 10, 'linear', { name: `blocks.${b}.fc` }).apply(activation('relu').apply(n)));
  }
  return new Model({ inputs: x, outputs: dense(10, 4, 'linear', { name: 'out' }).apply(h) }, { seed: 98, backend });
}

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expectClose(actual, expected, ofTensor(expected, rel), what);
}

const graphInputs = () => ({ tokens: Int32Array.from(graphData.tokens), feats: Float32Array.from(graphData.feats) });
const graphTargets = () => ({ logits: Int32Array.from(graphData.labels), value: Float32Array.from(graphData.valueTargets) });
const graphLoss = { loss: { logits: 'softmaxCrossEntropy', value: 'mse' } as const, lossWeights: { value: 0.5 } };

describe.each(['wasm', 'js'] as BackendName[])('a graph with an embedding, layer norm, residuals, a shared layer, concat and two outputs (%s)', (backend) => {
  it('loads PyTorch\'s state_dict by name and gives its outputs and loss', () => {
    const model = graphModel(backend);
    expect(model.loadStateDict(fixture('graph.safetensors'))).toEqual({ missingKeys: [], unexpectedKeys: [] });
    const out = model.forward(graphInputs()) as Record<string, Float32Array>;
    expectNear(out.logits, graphData.logits, 1e-5, 'logits');
    expectNear(out.value, graphData.value, 1e-5, 'value');
    const loss = model.loss(graphLoss.loss, graphTargets(), graphLoss);
    expect(loss).toBeCloseTo(graphData.loss, 5);
    expect(loss).toBeCloseTo(graphData.ceLoss + 0.5 * graphData.mseLoss, 5);
    model.dispose();
  });

  it('gives PyTorch\'s gradient for every parameter (the shared layer\'s summed over both uses)', () => {
    const model = graphModel(backend);
    model.loadStateDict(fixture('graph.safetensors'));
    model.zeroGrad();
    model.forward(graphInputs());
    model.loss(graphLoss.loss, graphTargets(), graphLoss);
    model.backward();
    const names = model.namedParameters().map((p) => p.name).sort();
    expect(names).toEqual(Object.keys(graphData.grads).sort());
    for (const parameter of model.namedParameters()) {
      expectNear(torchLayout(model, parameter.name, parameter.grad), graphData.grads[parameter.name], 1e-4, `gradient of ${parameter.name}`);
    }
    model.dispose();
  });

  it('follows PyTorch\'s losses and weights for six AdamW steps', () => {
    const model = graphModel(backend);
    model.loadStateDict(fixture('graph.safetensors'));
    const { lr, betas, eps, weightDecay, losses, params } = graphData.adamw;
    const optimizer = new AdamW(model, { lr, betas, eps, weightDecay });
    const got = losses.map(() => model.trainStep(graphInputs(), graphTargets(), { ...graphLoss, optimizer }));
    expectNear(got, losses, 1e-5, 'losses');
    for (const [name, values] of model.stateDict().map((t) => [t.name, t.data] as const)) {
      expectNear(values as Float32Array, params[name], 1e-4, `${name} after 6 steps`);
    }
    model.dispose();
  });
});

describe.each(['wasm', 'js'] as BackendName[])('a residual MLP with layer norm (%s)', (backend) => {
  it('loads PyTorch\'s state_dict, gives its logits, loss and gradients, and follows five SGD steps', () => {
    const model = mlpModel(backend);
    model.loadStateDict(fixture('mlp.safetensors'));
    const x = Float32Array.from(mlpData.x);
    const labels = Int32Array.from(mlpData.labels);
    expectNear(model.forward(x) as Float32Array, mlpData.logits, 1e-5, 'logits');
    expect(model.loss('softmaxCrossEntropy', labels)).toBeCloseTo(mlpData.loss, 5);
    model.zeroGrad();
    model.backward();
    for (const parameter of model.namedParameters()) {
      expectNear(torchLayout(model, parameter.name, parameter.grad), mlpData.grads[parameter.name], 1e-4, `gradient of ${parameter.name}`);
    }
    const optimizer = new SGD(model, { lr: mlpData.sgd.lr, momentum: mlpData.sgd.momentum });
    const got = mlpData.sgd.losses.map(() => model.trainStep(x, labels, { loss: 'softmaxCrossEntropy', optimizer }));
    expectNear(got, mlpData.sgd.losses, 1e-5, 'losses');
    model.dispose();
  });
});

describe('loadStateDict checks the whole file before any weight changes', () => {
  const expectFileError = (run: () => unknown, pattern: RegExp): void => expectError(run, 'FILE', pattern);

  it('names missing and unexpected keys (strict), and wrong shapes, leaving the model as it was', () => {
    const model = graphModel('js');
    const before = model.stateDict();
    // The MLP's file fits none of the graph's names.
    expectFileError(() => model.loadStateDict(fixture('mlp.safetensors')), /missing keys: .*tok\.weight.*; unexpected keys: .*blocks\.0\.fc\.bias/);
    // Strict off: nothing fits by name, so nothing loads and the keys are reported.
    const report = model.loadStateDict(fixture('mlp.safetensors'), { strict: false });
    expect(report.missingKeys).toContain('ln.weight');
    expect(report.unexpectedKeys).toContain('inp.weight');
    const other = mlpModel('js');
    // A model whose "inp" is 6 → 10 against a file where... its own names but a shape that differs.
    const renamed = (() => {
      const x = input([7]);
      let h = dense(7, 10, 'linear', { name: 'inp' }).apply(x);
      for (let b = 0; b < 2; b++) {
        const n = layerNorm(10, { name: `blocks.${b}.norm` }).apply(h);
        h = add(h, dense(10, 10, 'linear', { name: `blocks.${b}.fc` }).apply(activation('relu').apply(n)));
      }
      return new Model({ inputs: x, outputs: dense(10, 4, 'linear', { name: 'out' }).apply(h) }, { backend: 'js' });
    })();
    const renamedBefore = renamed.stateDict();
    expectFileError(() => renamed.loadStateDict(fixture('mlp.safetensors')), /inp\.weight is \[10, 6\], the model's is \[10, 7\]/);
    renamed.stateDict().forEach((t, i) => expect(Array.from(t.data as Float32Array)).toEqual(Array.from(renamedBefore[i].data as Float32Array)));
    model.stateDict().forEach((t, i) => expect(Array.from(t.data as Float32Array)).toEqual(Array.from(before[i].data as Float32Array)));
    [model, other, renamed].forEach((m) => m.dispose());
  });
});

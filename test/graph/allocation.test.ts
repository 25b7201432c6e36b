// A graph's steady-state training step allocates no more than a stack's (test/model/allocation.test.ts):
// no typed arrays, views, closures or arena growth per step, with embeddings, layer norm, a residual
// add, concat and two outputs, on the tape (wasm) and call by call (js), and with the PyTorch-style calls.
import { beforeAll, describe, it } from 'vitest';
import {
  activation, add, AdamW, batchNorm, concat, conv2d, dense, embedding, flatten, gpt, init, input, layerNorm, maxPool2d, Model, Rng, SGD, Sequential,
  type BackendName, type Layer,
} from '../../src/index.js';
import { callByCall, expectStepsWithin } from '../allocation.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

function graph(backend: BackendName): Model {
  const tokens = input([4], { dtype: 'int32', name: 'tokens' });
  const feats = input([4, 3], { name: 'feats' });
  const h = layerNorm(8).apply(add(embedding(7, 8).apply(tokens), dense(3, 8, 'gelu').apply(feats)));
  const block = add(h, dense(16, 8).apply(dense(8, 16, 'relu').apply(h)));
  return new Model({ inputs: { tokens, feats }, outputs: { logits: dense(8, 7).apply(block), value: dense(16, 1).apply(concat([block, h])) } }, { seed: 1, backend });
}

// Doubles V8 boxes (16 bytes each) where a call it does not inline returns one, or a weight is read
// from a record: each of two weighted losses passes through several such calls. Measured 80–128 bytes
// a step under vitest (its module transform inlines less than tsx, where it is 48); ten boxes allowed.
// On the tape the losses come back in an array: trainStep on wasm boxes fewer (32–80 bytes), seven
// allowed. A view of the heap made per step (96 bytes and more), tried, fails all four cases.
const BUDGET = 10 * 16;
const TAPE_BUDGET = 7 * 16;

describe.each(['wasm', 'js'] as BackendName[])('a graph\'s training step on the %s backend', (backend) => {
  const steps = 10_000;
  const warmUp = backend === 'wasm' ? 10_000 : 20_000;
  const rng = new Rng(5);
  const x = { tokens: Int32Array.from({ length: 24 }, () => rng.below(7)), feats: Float32Array.from({ length: 72 }, () => rng.normal()) };
  const y = { logits: Int32Array.from({ length: 24 }, () => rng.below(7)), value: Float32Array.from({ length: 24 }, () => rng.normal()) };

  it('allocates no more than its loss in trainStep', async () => {
    const model = graph(backend);
    const options = { loss: { logits: 'softmaxCrossEntropy', value: 'mse' } as const, lossWeights: { value: 0.5 }, optimizer: new AdamW(model, { lr: 1e-3 }) };
    await expectStepsWithin(() => model.trainStep(x, y, options), warmUp, steps, backend === 'wasm' ? TAPE_BUDGET : BUDGET);
    model.dispose();
  });

  it('allocates no more than the loss in zeroGrad, forward, loss, backward, step', async () => {
    const model = graph(backend);
    const loss = { logits: 'softmaxCrossEntropy', value: 'mse' } as const;
    await expectStepsWithin(callByCall(model, new AdamW(model, { lr: 1e-3 }), x, loss, y), warmUp, steps, BUDGET);
    model.dispose();
  });
});

// A small CNN: convolutions (with the fused activation), batch norm, pooling, a flatten and dense
// layers, on the tape (wasm) and call by call (js).
describe.each(['wasm', 'js'] as BackendName[])('a CNN\'s training step on the %s backend', (backend) => {
  const steps = backend === 'wasm' ? 4000 : 1000;
  const warmUp = backend === 'wasm' ? 4000 : 2000;
  const rng = new Rng(6);
  const x = Float32Array.from({ length: 3 * 36 }, () => rng.normal());
  const y = Int32Array.from({ length: 3 }, () => rng.below(4));
  const cnn = (): Sequential<Layer> => new Sequential<Layer>([
    conv2d(1, 4, 3, { padding: 1 }), batchNorm(4), activation('relu'), maxPool2d(2), conv2d(4, 4, 3, { activation: 'relu' }),
    flatten(), dense(4, 4),
  ], { inputShape: [6, 6, 1], seed: 2, backend });

  it('allocates no more than its loss in trainStep', async () => {
    const model = cnn();
    const options = { loss: 'softmaxCrossEntropy', optimizer: new SGD(model, { lr: 0.01, momentum: 0.9 }) } as const;
    await expectStepsWithin(() => model.trainStep(x, y, options), warmUp, steps, backend === 'wasm' ? TAPE_BUDGET : BUDGET);
    model.dispose();
  });
});

// A GPT (attention, tied head, layer norms, residuals, dropout in attention and after each branch) with
// nanoGPT's optimizer groups and clipping inside the step, on the tape (wasm) and call by call (js).
describe.each(['wasm', 'js'] as BackendName[])('a GPT\'s training step on the %s backend', (backend) => {
  const steps = backend === 'wasm' ? 5000 : 2000;
  const warmUp = backend === 'wasm' ? 10_000 : 5000;
  const rng = new Rng(7);
  const x = Int32Array.from({ length: 2 * 6 }, () => rng.below(9));
  const y = Int32Array.from({ length: 2 * 6 }, () => rng.below(9));
  for (const dropout of [0, 0.1]) {
    it(`allocates no more than its loss in trainStep with clipNorm (dropout ${dropout})`, async () => {
      const model = gpt({ vocabSize: 9, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8, dropout }, { seed: 3, backend });
      const optimizer = new AdamW(model, { lr: 1e-3, weightDecay: 0.1, groups: [{ params: 'noDecay', weightDecay: 0 }] });
      const options = { loss: 'softmaxCrossEntropy', optimizer, clipNorm: 1 } as const;
      await expectStepsWithin(() => model.trainStep(x, y, options), warmUp, steps, backend === 'wasm' ? TAPE_BUDGET : BUDGET);
      model.dispose();
    });
  }
});

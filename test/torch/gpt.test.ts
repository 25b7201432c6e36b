// GPTs against PyTorch, the llm.c test_gpt2 way: nanoGPT-style models built by
// test/fixtures/torch/make_gpt_fixtures.py (tied wte/lm_head, causal self-attention, tanh GELU MLPs,
// layer norms with and without bias), whose fixtures are committed, so CI needs no PyTorch. gpt() with
// the same config loads PyTorch's state_dict strictly (it lists the tied tensor under both names),
// gives its logits, loss and every parameter's gradient, and follows 5 AdamW steps with nanoGPT's decay
// groups and clipping at 1.0: the losses, the gradient norms before clipping, every parameter after,
// and the eval logits. model.save() holds the stepped state_dict with the tied tensor once; that
// PyTorch takes it was checked there:
//   SIMDPROP_TORCH_SAVED=/tmp/saved npx vitest run test/torch/gpt.test.ts
//   /usr/bin/python3 test/fixtures/torch/make_gpt_fixtures.py --check-saved /tmp/saved
// Tolerances are relative to each value or 1e-2 of its tensor's largest (ofTensor).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSafetensors, readTensor } from '../../src/io/safetensors.js';
import { clipGradNorm } from '../../src/optim/clip.js';
import { AdamW, gpt, init, type BackendName, type Model } from '../../src/index.js';
import { expectClose, ofTensor } from '../tolerance.js';
import { torchLayout } from './layout.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/torch/${name}`, import.meta.url));

interface GptFixture {
  config: { vocabSize: number; blockSize: number; nLayer: number; nHead: number; nEmbd: number; dropout: number; bias: boolean };
  tokens: number[][];
  targets: number[][];
  logits: number[];
  loss: number;
  optimizer: { lr: number; betas: [number, number]; eps: number; weightDecay: number; clipGradNorm: number; decay: string[]; noDecay: string[] };
  losses: number[];
  gradNorms: number[];
  steppedEvalLogits: number[];
}

function tensorsOf(bytes: Uint8Array): Map<string, Float32Array> {
  const file = parseSafetensors(bytes);
  return new Map([...file.tensors].map(([name, { shape }]) => [name, readTensor(file, name, shape)]));
}

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expectClose(actual, expected, ofTensor(expected, rel), what);
}

beforeAll(async () => {
  await init({ threads: 1 });
});

describe.each(['wasm', 'js'] as BackendName[])('GPTs against PyTorch (%s)', (backend) => {
  for (const file of ['gpt', 'gpt_nobias']) {
    const data = JSON.parse(fixture(`${file}.json`).toString('utf8')) as GptFixture;
    const tokens = Int32Array.from(data.tokens.flat());
    const targets = Int32Array.from(data.targets.flat());
    const { config } = data;
    const label = `${file} (${config.nLayer} layers, ${config.nHead} heads, ${config.nEmbd} wide, bias ${config.bias})`;
    const loaded = (): Model => {
      const model = gpt({ ...config }, { backend, seed: 1 });
      expect(model.loadStateDict(fixture(`${file}.safetensors`))).toEqual({ missingKeys: [], unexpectedKeys: [] });
      return model;
    };
    const adamW = (model: Model): AdamW => new AdamW(model, {
      lr: data.optimizer.lr, betas: data.optimizer.betas, eps: data.optimizer.eps, weightDecay: data.optimizer.weightDecay,
      groups: [{ params: 'noDecay', weightDecay: 0 }],
    });

    it(`${label}: nanoGPT's names and decay groups, the tied tensor once`, () => {
      const model = gpt({ ...config }, { backend });
      const names = model.namedParameters().map((p) => p.name);
      expect([...names].sort()).toEqual([...data.optimizer.decay, ...data.optimizer.noDecay].sort());
      for (const p of model.namedParameters()) expect(p.tags.includes('decay'), p.name).toBe(data.optimizer.decay.includes(p.name));
      const initial = tensorsOf(fixture(`${file}.safetensors`));
      expect(model.parameterCount).toBe([...initial].filter(([name]) => name !== 'lm_head.weight').reduce((sum, [, t]) => sum + t.length, 0));
      model.dispose();
    });

    it(`${label}: gives PyTorch's logits, loss and every parameter's gradient`, () => {
      const model = loaded();
      expectNear(model.forward(tokens) as Float32Array, data.logits, 5e-5, 'logits');
      expectNear([model.loss('softmaxCrossEntropy', targets)], [data.loss], 1e-6, 'loss');
      model.zeroGrad();
      model.backward();
      const grads = tensorsOf(fixture(`${file}.grads.safetensors`));
      expect(model.namedParameters().map((p) => p.name).sort()).toEqual([...grads.keys()].sort());
      for (const parameter of model.namedParameters()) {
        expectNear(torchLayout(model, parameter.name, parameter.grad), grads.get(parameter.name)!, 1e-4, `gradient of ${parameter.name}`);
      }
      model.dispose();
    });

    it(`${label}: follows PyTorch's AdamW steps with clipping, step by step and in trainStep`, () => {
      // By hand: the gradient norms before clipping are PyTorch's.
      const manual = loaded();
      const optimizer = adamW(manual);
      const norms: number[] = [];
      const losses = data.losses.map(() => {
        manual.zeroGrad();
        manual.forward(tokens);
        const loss = manual.loss('softmaxCrossEntropy', targets);
        manual.backward();
        norms.push(clipGradNorm(manual, data.optimizer.clipGradNorm));
        optimizer.step();
        return loss;
      });
      expectNear(losses, data.losses, 1e-5, 'losses');
      expectNear(norms, data.gradNorms, 1e-4, 'gradient norms before clipping');
      // In one crossing a step: the same parameters, bit for bit.
      const stepped = loaded();
      const optimizer2 = adamW(stepped);
      const losses2 = data.losses.map(() => stepped.trainStep(tokens, targets, { loss: 'softmaxCrossEntropy', optimizer: optimizer2, clipNorm: data.optimizer.clipGradNorm }));
      expect(losses2).toEqual(losses);
      stepped.namedParameters().forEach((p, i) => expect(p.value, p.name).toEqual(manual.namedParameters()[i].value));

      const expected = tensorsOf(fixture(`${file}.stepped.safetensors`));
      const state = new Map(stepped.stateDict().map((t) => [t.name, t.data as Float32Array]));
      expect([...state.keys()].sort()).toEqual([...expected.keys()].filter((name) => name !== 'lm_head.weight').sort());
      for (const [name, values] of state) {
        // The keys' bias moves no output (it adds q·b to every score of a query, which the softmax takes
        // out): its gradient is rounding on both sides, which Adam's steps blow up, differently.
        if (name.endsWith('attn.c_attn.bias')) {
          const C = config.nEmbd;
          const keep = (v: Float32Array) => Float32Array.from([...v.subarray(0, C), ...v.subarray(2 * C)]);
          expectNear(keep(values), keep(expected.get(name)!), 3e-5, `${name} (queries and values) after the steps`);
        } else {
          expectNear(values, expected.get(name)!, 3e-5, `${name} after the steps`);
        }
      }
      expectNear(stepped.eval().forward(tokens) as Float32Array, data.steppedEvalLogits, 5e-5, 'eval logits after the steps');

      const directory = process.env.SIMDPROP_TORCH_SAVED;
      if (directory !== undefined) {
        mkdirSync(directory, { recursive: true });
        writeFileSync(join(directory, `${file}.${backend}.safetensors`), stepped.save());
      }
      manual.dispose();
      stepped.dispose();
    });
  }
});

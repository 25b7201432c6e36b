// generate(): the cached decoder gives the logits of a whole-window forward at every position, tokens
// are reproducible from the seed and the same with and without the cache (past the context too, where
// the window slides), stopToken, temperature 0 and topK behave, and bad prompts and options are refused.
import { beforeAll, describe, expect, it } from 'vitest';
import { dense, generate, gpt, init, input, Model, type BackendName } from '../../src/index.js';
import { Decoder } from '../../src/models/generate.js';
import { expectError } from '../expect-error.js';
import { expectClose, ofTensor } from '../tolerance.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

const V = 11;
const T = 8;
const model = (backend: BackendName, dropout = 0): Model =>
  gpt({ vocabSize: V, blockSize: T, nLayer: 2, nHead: 2, nEmbd: 12, dropout }, { seed: 4, backend });

/** A model that has trained a little, so that its distributions are not near uniform. */
function trained(backend: BackendName): Model {
  const m = model(backend);
  for (const p of m.namedParameters()) for (let i = 0; i < p.value.length; i++) p.value[i] *= 20;
  return m;
}

describe.each(['wasm', 'js'] as BackendName[])('generate on the %s backend', (backend) => {
  it('the cache gives the whole window\'s logits at every position, one position at a time', () => {
    const m = trained(backend);
    const tokens = Int32Array.from({ length: T }, (_, t) => (3 * t + 1) % V);
    const full = (m.predict(tokens) as Float32Array).slice();
    const decoder = new Decoder(m, T);
    for (let t = 0; t < T; t++) {
      const logits = decoder.step(t, tokens[t]).slice();
      expectClose(logits, full.subarray(t * V, (t + 1) * V), ofTensor(full.subarray(t * V, (t + 1) * V), 1e-5), `logits at position ${t}`);
    }
    decoder.dispose();
    m.dispose();
  });

  it('is reproducible from its seed, the same with and without the cache, past the context as well', () => {
    const m = trained(backend);
    const options = { maxNewTokens: 2 * T + 3, temperature: 0.9, topK: 5, seed: 3 };
    const a = generate(m, [1, 2], options);
    expect(a.length).toBe(2 + 2 * T + 3);
    expect(Array.from(a.subarray(0, 2))).toEqual([1, 2]);
    expect(generate(m, [1, 2], options)).toEqual(a);
    expect(generate(m, [1, 2], { ...options, cache: false })).toEqual(a);
    expect(generate(m, [1, 2], { ...options, seed: 4 })).not.toEqual(a);
    // Greedy: the most likely token every time, with or without the cache.
    const greedy = generate(m, [5], { maxNewTokens: 12, temperature: 0 });
    expect(generate(m, [5], { maxNewTokens: 12, temperature: 0, cache: false })).toEqual(greedy);
    m.dispose();
  });

  it('stops after stopToken, draws among the topK only, and leaves the model as it was', () => {
    const m = trained(backend);
    const before = m.namedParameters().map((p) => p.value.slice());
    const counts = new Int32Array(V);
    for (let seed = 0; seed < 40; seed++) {
      const out = generate(m, [0], { maxNewTokens: 6, seed, topK: 2 });
      for (const token of out.subarray(1)) counts[token]++;
      const stopped = generate(m, [0], { maxNewTokens: 30, seed, stopToken: out[1] });
      expect(stopped.length).toBe(2);
    }
    // With topK 2 every token drawn is one of the two likeliest after its context: at most 2 distinct tokens first.
    const first = new Set<number>();
    for (let seed = 0; seed < 40; seed++) first.add(generate(m, [0], { maxNewTokens: 1, seed, topK: 2 })[1]);
    expect(first.size).toBeLessThanOrEqual(2);
    m.namedParameters().forEach((p, i) => expect(p.value).toEqual(before[i]));
    m.dispose();
  });
});

describe('generate refuses what it cannot do', () => {
  it('names a prompt too long or empty, a token outside the vocabulary, and bad options', () => {
    const m = model('wasm');
    expectError(() => generate(m, new Int32Array(T + 1), { maxNewTokens: 1 }), 'SHAPE', /the prompt must hold 1 to 8 tokens .*got 9/);
    expectError(() => generate(m, [], { maxNewTokens: 1 }), 'SHAPE', /the prompt must hold 1 to 8 tokens/);
    expectError(() => generate(m, [1, 11], { maxNewTokens: 1 }), 'LABEL', /prompt token 11 at position 1 is outside the vocabulary \[0, 11\)/);
    expectError(() => generate(m, [1, -1], { maxNewTokens: 1 }), 'LABEL', /prompt token -1 at position 1/);
    expectError(() => generate(m, [1], { maxNewTokens: -1 }), 'OPTION', /maxNewTokens must be an integer ≥ 0/);
    expectError(() => generate(m, [1], { maxNewTokens: 1, temperature: -1 }), 'OPTION', /temperature must be a finite number ≥ 0/);
    expectError(() => generate(m, [1], { maxNewTokens: 1, topK: 0 }), 'OPTION', /topK must be a positive integer/);
    expectError(() => generate(m, [1], { maxNewTokens: 1, stopToken: 11 }), 'OPTION', /stopToken must be a token of the vocabulary/);
    m.dispose();
    const x = input([4]);
    const notLanguage = new Model({ inputs: x, outputs: dense(4, 3).apply(x) });
    expectError(() => generate(notLanguage, [1], { maxNewTokens: 1 }), 'GRAPH', /generate\(\) takes a causal language model/);
    notLanguage.dispose();
  });

  it('runs a model with dropout in eval mode, the same tokens as without the cache', () => {
    const m = model('wasm', 0.2);
    const a = generate(m, [3], { maxNewTokens: 10, seed: 1 });
    expect(generate(m, [3], { maxNewTokens: 10, seed: 1, cache: false })).toEqual(a);
    m.dispose();
  });
});

// Causal self-attention and a whole GPT block through the layer harness (wasm against the js twins, the
// tape against call by call, float64 central differences), in graphs with fan-out (the input read by
// the attention and the residual sum), one attention applied twice (shared weights), odd sizes, heads of
// width 1 and 3, probabilities recomputed, and the head tied to the token embedding; the causal mask
// checked directly (a later token changes no earlier output); and the errors.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  add, causalSelfAttention, dense, embedding, gpt, init, input, layerNorm, Model, positionEmbedding, Rng,
} from '../../src/index.js';
import { expectError } from '../expect-error.js';
import { checkGraph, indices, normals } from './harness.js';

beforeAll(async () => {
  await init({ threads: 1 });
});

describe('causal self-attention', () => {
  for (const { T, C, heads, probabilities } of [
    { T: 5, C: 6, heads: 2, probabilities: 'saved' as const },
    { T: 7, C: 9, heads: 3, probabilities: 'recomputed' as const },
    { T: 1, C: 4, heads: 4, probabilities: 'saved' as const },
    { T: 4, C: 3, heads: 1, probabilities: 'saved' as const },
  ]) {
    checkGraph({
      name: `attention T=${T} C=${C} ${heads} heads, probabilities ${probabilities}, in a residual x + attn(ln(x))`,
      graph: () => {
        const x = input([T, C]);
        const h = add(x, causalSelfAttention(C, heads, { probabilities, name: 'attn' }).apply(layerNorm(C).apply(x)));
        return { inputs: x, outputs: dense(C, 2).apply(h) };
      },
      inputs: (rows, rng) => normals(rng, rows * T * C),
      targets: (rows, rng) => normals(rng, rows * T * 2),
      loss: 'mse',
      rows: 3,
    });
  }

  checkGraph({
    name: 'one attention applied twice (shared weights), without biases',
    graph: () => {
      const x = input([4, 6]);
      const attention = causalSelfAttention(6, 2, { bias: false });
      return { inputs: x, outputs: dense(6, 3).apply(attention.apply(attention.apply(x))) };
    },
    inputs: (rows, rng) => normals(rng, rows * 24),
    targets: (rows, rng) => normals(rng, rows * 12),
    loss: 'mse',
    rows: 2,
  });

  checkGraph({
    name: 'a GPT block with tied embeddings: per-position softmax cross-entropy over [T, V] from [T] tokens',
    graph: () => {
      const tokens = input([6], { dtype: 'int32' });
      const wte = embedding(7, 8, { name: 'wte' });
      let x = positionEmbedding(6, 8, { name: 'wpe' }).apply(wte.apply(tokens));
      x = add(x, causalSelfAttention(8, 2, { name: 'h.0.attn' }).apply(layerNorm(8).apply(x)));
      x = add(x, dense(32, 8).apply(dense(8, 32, 'gelu').apply(layerNorm(8).apply(x))));
      return { inputs: tokens, outputs: dense(8, 7, 'linear', { bias: false, tiedTo: wte, name: 'lm_head' }).apply(layerNorm(8).apply(x)) };
    },
    inputs: (rows, rng) => indices(rng, rows * 6, 7),
    targets: (rows, rng) => indices(rng, rows * 6, 7),
    loss: 'softmaxCrossEntropy',
    rows: 3,
  });
});

describe('the causal mask and the layer\'s checks', () => {
  it.each(['wasm', 'js'] as const)('a token changes the outputs at its position and after, never before (%s)', (backend) => {
    const model = gpt({ vocabSize: 9, blockSize: 7, nLayer: 2, nHead: 2, nEmbd: 8 }, { seed: 3, backend });
    const rng = new Rng(1);
    const tokens = indices(rng, 7, 9);
    const before = (model.forward(tokens) as Float32Array).slice();
    for (const position of [0, 3, 6]) {
      const changed = tokens.slice();
      changed[position] = (changed[position] + 1) % 9;
      const after = model.forward(changed) as Float32Array;
      for (let t = 0; t < 7; t++) {
        const row = (values: Float32Array) => Array.from(values.subarray(t * 9, (t + 1) * 9));
        if (t < position) expect(row(after), `position ${t} after a change at ${position}`).toEqual(row(before));
        else if (t === position) expect(row(after)).not.toEqual(row(before));
      }
    }
    model.dispose();
  });

  it('refuses sizes heads do not divide, inputs of another width or rank, and bad options', () => {
    expectError(() => causalSelfAttention(10, 3), 'OPTION', /embedDim 10 must be a multiple of numHeads 3/);
    expectError(() => causalSelfAttention(8, 2).apply(input([4, 6])), 'SHAPE', /causalSelfAttention takes \[T, 8\], but input 0 is \[4, 6\]/);
    expectError(() => causalSelfAttention(8, 2).apply(input([8])), 'SHAPE', /takes \[T, 8\], but input 0 is \[8\]/);
    expectError(() => causalSelfAttention(8, 2, { dropout: 1 }), 'OPTION', /dropout must be a number in \[0, 1\)/);
    expectError(() => causalSelfAttention(8, 2, { probabilities: 'kept' as never }), 'OPTION', /probabilities must be 'saved' or 'recomputed'/);
  });

  it('saves and loads a GPT bit-exactly: the graph, the tie and every tensor', () => {
    const model = gpt({ vocabSize: 6, blockSize: 5, nLayer: 1, nHead: 2, nEmbd: 4, dropout: 0.1, bias: false }, { seed: 2, backend: 'wasm' });
    const tokens = indices(new Rng(3), 10, 6);
    model.eval();
    const before = (model.forward(tokens) as Float32Array).slice();
    const again = Model.load(model.save());
    again.eval();
    expect(new Uint32Array((again.forward(tokens) as Float32Array).slice().buffer)).toEqual(new Uint32Array(before.buffer));
    expect(again.namedParameters().map((p) => p.name)).toEqual(model.namedParameters().map((p) => p.name));
    again.dispose();
    model.dispose();
  });
});

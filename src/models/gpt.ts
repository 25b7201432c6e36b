// A GPT in nanoGPT's layout and state_dict names, built from the library's layers: token and position
// embeddings, nLayer pre-norm blocks (x + attn(ln_1(x)), then x + mlp(ln_2(x)) with GPT-2's tanh
// GELU), a final layer norm and a head tied to the token embedding. Initialized as nanoGPT: every
// weight N(0, 0.02), the residual projections (attn.c_proj, mlp.c_proj) N(0, 0.02/√(2·nLayer)), biases
// 0, layer norms 1 and 0. A PyTorch nanoGPT's state_dict loads into it by name (loadStateDict).
import type { BackendName } from '../backend/backend.js';
import { SimdpropError, describe } from '../errors.js';
import { Model } from '../graph/model.js';
import type { Initializer } from '../graph/op.js';
import { input, type SymbolicTensor } from '../graph/symbolic.js';
import { causalSelfAttention } from '../layers/attention.js';
import { dense } from '../layers/dense.js';
import { dropout } from '../layers/dropout.js';
import { embedding } from '../layers/embedding.js';
import { layerNorm } from '../layers/layer_norm.js';
import { add } from '../layers/merge.js';
import { positionEmbedding } from '../layers/position_embedding.js';

export interface GPTConfig {
  vocabSize: number;
  /** The longest context: positions the model has embeddings for, and the length of its input. */
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  /** Dropout after the embeddings, on the attention probabilities and after each residual branch (default 0). */
  dropout?: number;
  /** Biases in the linear layers and layer norms (default true), as nanoGPT's `bias`. */
  bias?: boolean;
  /** Attention probabilities kept for the backward ('saved', default) or made again there ('recomputed'). */
  attentionProbabilities?: 'saved' | 'recomputed';
}

export interface GPTOptions {
  seed?: number;
  backend?: BackendName;
}

/**
 * A GPT over int32 token windows `[blockSize]`, giving logits `[blockSize, vocabSize]`: train it with
 * softmaxCrossEntropy on `[batch, blockSize]` int32 targets (the mean over all positions, as
 * nanoGPT's loss), sample from it with generate().
 */
export function gpt(config: GPTConfig, options: GPTOptions = {}): Model {
  const { vocabSize, blockSize, nLayer, nHead, nEmbd } = config;
  for (const [what, value] of [['vocabSize', vocabSize], ['blockSize', blockSize], ['nLayer', nLayer], ['nHead', nHead], ['nEmbd', nEmbd]] as const) {
    if (!(Number.isInteger(value) && value > 0)) throw new SimdpropError('OPTION', `gpt ${what} must be a positive integer, got ${describe(value)}`);
  }
  if (nEmbd % nHead !== 0) throw new SimdpropError('OPTION', `gpt nEmbd ${nEmbd} must be a multiple of nHead ${nHead}`);
  const rate = config.dropout ?? 0;
  const bias = config.bias ?? true;
  const weight: Initializer = { kind: 'normal', std: 0.02 };
  const residual: Initializer = { kind: 'normal', std: 0.02 / Math.sqrt(2 * nLayer) };
  const zeros: Initializer = { kind: 'zeros' };
  const linear = (projection: Initializer): Record<string, Initializer> => (bias ? { weight: projection, bias: zeros } : { weight: projection });
  // Dropout layers only where they drop something: at 0 they would be copies.
  const drop = (x: SymbolicTensor, name: string): SymbolicTensor => (rate > 0 ? dropout(rate, { name }).apply(x) : x);

  const tokens = input([blockSize], { dtype: 'int32', name: 'tokens' });
  const wte = embedding(vocabSize, nEmbd, { name: 'transformer.wte', init: { weight } });
  let x = positionEmbedding(blockSize, nEmbd, { name: 'transformer.wpe', init: { weight } }).apply(wte.apply(tokens));
  x = drop(x, 'transformer.drop');
  for (let i = 0; i < nLayer; i++) {
    const block = `transformer.h.${i}`;
    const attention = causalSelfAttention(nEmbd, nHead, {
      dropout: rate, bias, probabilities: config.attentionProbabilities, name: `${block}.attn`,
      init: bias
        ? { 'c_attn.weight': weight, 'c_attn.bias': zeros, 'c_proj.weight': residual, 'c_proj.bias': zeros }
        : { 'c_attn.weight': weight, 'c_proj.weight': residual },
    });
    x = add(x, attention.apply(layerNorm(nEmbd, { bias, name: `${block}.ln_1` }).apply(x)));
    const hidden = dense(nEmbd, 4 * nEmbd, 'gelu', { bias, name: `${block}.mlp.c_fc`, init: linear(weight) })
      .apply(layerNorm(nEmbd, { bias, name: `${block}.ln_2` }).apply(x));
    x = add(x, drop(dense(4 * nEmbd, nEmbd, 'linear', { bias, name: `${block}.mlp.c_proj`, init: linear(residual) }).apply(hidden), `${block}.mlp.dropout`));
  }
  const logits = dense(nEmbd, vocabSize, 'linear', { bias: false, tiedTo: wte, name: 'lm_head' })
    .apply(layerNorm(nEmbd, { bias, name: 'transformer.ln_f' }).apply(x));
  return new Model({ inputs: tokens, outputs: logits }, { seed: options.seed, backend: options.backend });
}

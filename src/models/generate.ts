// Sampling from a causal language model (a model from one int32 window [T] of tokens to logits
// [T, V], such as gpt()): the prompt, then up to maxNewTokens tokens each drawn from the softmax of the
// last position's logits / temperature, optionally among the topK largest only, from a seeded stream.
// With the cache (the default) the model runs one position at a time on a block of its own: every op
// acts on the new position alone, attention against the keys and values it kept of the positions
// before (Op.decode), so a token costs one position's work, not a window's. Past T tokens the context
// is the last T (nanoGPT's crop), whose positions have moved: the cache is made again from them.
import { SimdpropError, describe } from '../errors.js';
import type { Model } from '../graph/model.js';
import type { NodeSpec, OpCall, TensorType } from '../graph/op.js';
import { alignFloats } from '../graph/plan.js';
import { Activation } from '../layers/activation.js';
import { Dense } from '../layers/dense.js';
import { Dropout } from '../layers/dropout.js';
import { Embedding } from '../layers/embedding.js';
import { LayerNorm } from '../layers/layer_norm.js';
import { Add, Multiply } from '../layers/merge.js';
import { Rng } from '../rng.js';

export interface GenerateOptions {
  /** Tokens to draw after the prompt (fewer when stopToken comes first). */
  maxNewTokens: number;
  /** Logits are divided by it before the softmax (default 1); 0 takes the most likely token each time. */
  temperature?: number;
  /** Draw among the k most likely tokens only. */
  topK?: number;
  /** Seed of the draws (default 0): the same seed, model and prompt give the same tokens. */
  seed?: number;
  /** Stop once this token is drawn (it is the last one returned): an end-of-text or end-of-name token. */
  stopToken?: number;
  /** Run one position at a time with the keys and values kept (default true), or the whole window for each token. */
  cache?: boolean;
}

/** Layers that act on each position alone: with the cache they run their forward on the new position. */
const POSITIONWISE = [Embedding, Dense, LayerNorm, Activation, Dropout, Add, Multiply];

/**
 * The prompt followed by the tokens drawn, as int32: `generate(model, tokenizer.encode('.'), { maxNewTokens: 20,
 * temperature: 0.8, topK: 5, seed: 1, stopToken: 0 })`. The prompt is 1 to T tokens of the model's vocabulary.
 */
export function generate(model: Model, prompt: ArrayLike<number>, options: GenerateOptions): Int32Array {
  const { T, vocabulary } = languageModel(model);
  const maxNewTokens = options?.maxNewTokens;
  if (!(Number.isInteger(maxNewTokens) && maxNewTokens >= 0)) throw new SimdpropError('OPTION', `maxNewTokens must be an integer ≥ 0, got ${describe(maxNewTokens)}`);
  const temperature = options.temperature ?? 1;
  if (!(typeof temperature === 'number' && temperature >= 0 && Number.isFinite(temperature))) {
    throw new SimdpropError('OPTION', `temperature must be a finite number ≥ 0, got ${describe(options.temperature)}`);
  }
  const topK = options.topK;
  if (topK !== undefined && !(Number.isInteger(topK) && topK >= 1)) throw new SimdpropError('OPTION', `topK must be a positive integer, got ${describe(topK)}`);
  const stop = options.stopToken;
  if (stop !== undefined && !(Number.isInteger(stop) && stop >= 0 && stop < vocabulary)) {
    throw new SimdpropError('OPTION', `stopToken must be a token of the vocabulary [0, ${vocabulary}), got ${describe(stop)}`);
  }
  if (prompt === null || typeof prompt !== 'object' || typeof prompt.length !== 'number') {
    throw new SimdpropError('TYPE', `the prompt must be an array of token ids (an Int32Array or numbers), got ${describe(prompt)}`);
  }
  if (prompt.length < 1 || prompt.length > T) {
    throw new SimdpropError('SHAPE', `the prompt must hold 1 to ${T} tokens (the model's context, blockSize), got ${prompt.length}`);
  }
  for (let i = 0; i < prompt.length; i++) {
    const token = prompt[i];
    if (!(Number.isInteger(token) && token >= 0 && token < vocabulary)) {
      throw new SimdpropError('LABEL', `prompt token ${typeof token === 'number' ? token : describe(token)} at position ${i} is outside the vocabulary [0, ${vocabulary})`);
    }
  }

  const tokens = Array.from(prompt);
  const rng = new Rng(options.seed ?? 0);
  const weights = new Float64Array(vocabulary);
  const draw = (logits: Float32Array): number => sample(logits, temperature, topK, rng, weights);
  if (options.cache === false) {
    const window = new Int32Array(T);
    for (let n = 0; n < maxNewTokens; n++) {
      const context = tokens.slice(-T);
      window.fill(0);
      window.set(context);
      const logits = model.predict(window) as Float32Array;
      const next = draw(logits.subarray((context.length - 1) * vocabulary, context.length * vocabulary));
      tokens.push(next);
      if (next === stop) break;
    }
    return Int32Array.from(tokens);
  }
  const decoder = new Decoder(model, T);
  try {
    let logits = decoder.run(tokens, 0);
    for (let n = 0; n < maxNewTokens; n++) {
      const next = draw(logits);
      tokens.push(next);
      if (next === stop || n === maxNewTokens - 1) break;
      // The next position, or, once the context is full, the last T tokens again from position 0.
      logits = tokens.length <= T ? decoder.step(tokens.length - 1, next) : decoder.run(tokens.slice(-T), 0);
    }
  } finally {
    decoder.dispose();
  }
  return Int32Array.from(tokens);
}

/** The context T and vocabulary of a model from one int32 window [T] to logits [T, V]; an error otherwise. */
function languageModel(model: Model): { T: number; vocabulary: number } {
  const plan = model.plan;
  const what = 'generate() takes a causal language model: one int32 input [T] of tokens and one output [T, vocabulary] of logits';
  if (plan.inputs.length !== 1 || plan.outputs.length !== 1) throw new SimdpropError('GRAPH', `${what}; this model has ${plan.inputs.length} inputs and ${plan.outputs.length} outputs`);
  const input = plan.tensors[plan.inputs[0]].type;
  const output = plan.tensors[plan.outputs[0]].type;
  if (input.dtype !== 'int32' || input.shape.length !== 1 || output.shape.length !== 2 || output.shape[0] !== input.shape[0]) {
    throw new SimdpropError('GRAPH', `${what}; this one maps ${input.dtype} [${input.shape.join(', ')}] to [${output.shape.join(', ')}]`);
  }
  const bound = plan.tensors[plan.inputs[0]].consumers.reduce((least, n) => Math.min(least, plan.nodes[n].spec.indexBound ?? Infinity), Infinity);
  if (bound < output.shape[1]) {
    throw new SimdpropError('GRAPH', `${what}; this one's embedding has ${bound} rows for a vocabulary of ${output.shape[1]}, so a token drawn could not be read back`);
  }
  return { T: input.shape[0], vocabulary: output.shape[1] };
}

/**
 * Draws a token from the logits: softmax(logits / temperature) over the topK largest (all when
 * undefined), or the largest with temperature 0. `weights` is room for V float64s.
 */
function sample(logits: Float32Array, temperature: number, topK: number | undefined, rng: Rng, weights: Float64Array): number {
  const V = logits.length;
  let best = 0;
  for (let v = 1; v < V; v++) if (logits[v] > logits[best]) best = v;
  if (temperature === 0) return best;
  // The k-th largest logit: tokens below it are left out (ties at it stay in).
  let floor = -Infinity;
  if (topK !== undefined && topK < V) floor = Float64Array.from(logits).sort()[V - topK];
  const top = logits[best] / temperature;
  let sum = 0;
  for (let v = 0; v < V; v++) {
    weights[v] = logits[v] >= floor ? Math.exp(logits[v] / temperature - top) : 0;
    sum += weights[v];
  }
  let u = rng.uniform() * sum;
  for (let v = 0; v < V; v++) {
    u -= weights[v];
    if (u < 0 && weights[v] > 0) return v;
  }
  return best;
}

/**
 * The model run one position at a time, on a block of its own: a row of every tensor, each node's saved
 * rows, each stateful op's state for T positions (the attention caches) and the largest scratch. The
 * parameters are the model's own, read in place.
 */
export class Decoder {
  private readonly block: number;
  private readonly calls: OpCall[] = [];
  private readonly states: number[] = [];
  private readonly input: number;
  private readonly output: number;
  private readonly vocabulary: number;

  constructor(private readonly model: Model, private readonly T: number) {
    const plan = model.plan;
    const { heap } = model.backend;
    // One position of each tensor: its type with the leading axis (positions) 1.
    const one = (type: TensorType): TensorType => ({ shape: [1, ...type.shape.slice(1)], dtype: type.dtype });
    const specs: NodeSpec[] = plan.nodes.map((node) => {
      const layer = node.layers[node.layers.length - 1];
      if (node.spec.aliasOf !== undefined || (node.op.decode === undefined && !POSITIONWISE.some((kind) => node.op instanceof kind))) {
        throw new SimdpropError('GRAPH', `generate() runs the model one position at a time, which ${layer.label} cannot do; pass { cache: false } to run whole windows`);
      }
      for (const t of [...node.inputs, node.output]) {
        if (plan.tensors[t].type.shape[0] !== T) {
          throw new SimdpropError('GRAPH', `generate() runs the model one position at a time, but ${layer.label} reads or makes [${plan.tensors[t].type.shape.join(', ')}], not [${T}, …]`);
        }
      }
      return node.op.node(node.inputs.map((t) => one(plan.tensors[t].type)));
    });
    let cursor = 0;
    const region = (floats: number): number => {
      const at = cursor;
      cursor += alignFloats(Math.max(floats, 1)) * 4;
      return at;
    };
    const rows = plan.tensors.map((tensor) => region(tensor.size / T));
    const saved = specs.map((spec) => (spec.saved ?? []).map((s) => region(s.floatsPerSample + (s.floats ?? 0))));
    const states = plan.nodes.map((node) => (node.op.decodeFloats === undefined ? -1 : region(node.op.decodeFloats(T))));
    const scratch = region(specs.reduce((most, spec) => Math.max(most, spec.scratchBytes?.(1) ?? 0), 64) / 4);
    this.block = heap.alloc(cursor);
    const base = this.block;
    const params = model.paramsPointer;
    const buffers = model.buffersPointer;
    plan.nodes.forEach((node, n) => {
      const layer = plan.layerIndexOf(node.layer);
      this.states.push(states[n] < 0 ? 0 : base + states[n]);
      this.calls.push({
        node: specs[n], rows: 1, training: false,
        inputs: node.inputs.map((t) => base + rows[t]),
        output: base + rows[node.output],
        params: plan.layerParameters[layer].map((p) => params + plan.parameters[p].start * 4),
        buffers: plan.layerBuffers[layer].map((b) => buffers + plan.buffers[b].start * 4),
        saved: saved[n].map((offset) => base + offset),
        scratch: base + scratch,
        random: model.random,
        memory: () => heap.f32,
        outputGrad: 0, workGrad: 0, inputGrads: [], accumulateInputs: [], paramGrads: [], accumulateParams: 0, again: false,
      });
    });
    this.input = base + rows[plan.inputs[0]];
    this.output = base + rows[plan.outputs[0]];
    this.vocabulary = plan.tensors[plan.outputs[0]].type.shape[1];
  }

  /** Runs positions first … first + tokens.length − 1 on these tokens; the last one's logits. */
  run(tokens: readonly number[], first: number): Float32Array {
    let logits: Float32Array | undefined;
    tokens.forEach((token, i) => (logits = this.step(first + i, token)));
    return logits!;
  }

  /** Runs `token` at `position`: the logits there (a view, valid until the next step). */
  step(position: number, token: number): Float32Array {
    const { kernels, heap } = this.model.backend;
    heap.i32[this.input >> 2] = token;
    const nodes = this.model.plan.nodes;
    for (let n = 0; n < nodes.length; n++) {
      const op = nodes[n].op;
      if (op.decode !== undefined) op.decode(kernels, this.calls[n], position, this.T, this.states[n]);
      else op.forward(kernels, this.calls[n]);
    }
    return heap.f32.subarray(this.output >> 2, (this.output >> 2) + this.vocabulary);
  }

  dispose(): void {
    this.model.backend.heap.free(this.block);
  }
}

// English first names as a character-level language-modelling task, after makemore, with batches after
// nanoGPT, and the GPT that examples/names.ts and the demo's Names GPT tab train on it. No Node import
// here (examples/names-data.ts reads the names from their packages), so the demo bundles it for browsers.
//
// Names: distinct lowercase names of a–z only (normalizeNames); splitNames(names, 1, 0.1) holds out a
// tenth of them, 840 of the 8,403, and trains on 7,563.
//
// Tokens: CharTokenizer.fromText(names.join(''), { specials: ['.'] }), makemore's vocabulary: '.' is 0
// and marks where a name starts and ends, a–z are 1 … 26.
//
// Stream: a split's names joined into one token stream '.' + name + '.' + name + … + '.', the '.'
// between two names shared: ".emma.olivia.ava.". Its consecutive pairs are exactly makemore's bigrams
// of each name ('.' → first letter, …, last letter → '.'), with no '.' → '.' pair that a model would
// predict for free. A window of the stream may cross from one name into the next (as nanoGPT's windows
// cross documents): the model may condition on earlier names; each name's framing is unchanged.
//
// Training batches: windows of blockSize + 1 tokens at uniform random offsets (nanoGPT's get_batch):
// inputs [B, T] are the first T, targets [B, T] the last T, so targets[b, t] is the token after
// inputs[b, t]. Held-out loss: the stream cut into consecutive windows of T + 1 tokens overlapping by
// one, the tail of fewer than T targets dropped, and the loss averaged over every target of every
// window, in nats per position. fitBigram and bigramLoss give the baseline over the same positions.
import { AdamW, CharTokenizer, CosineAnnealingLR, generate, Rng, SimdpropError, type Model } from '../src/index.js';

/** The GPT: 4 layers, 4 heads, 64 wide over a context of 16 characters (202,816 parameters with 27 tokens). */
export const NAMES_GPT = { blockSize: 16, nLayer: 4, nHead: 4, nEmbd: 64, dropout: 0 } as const;
/** Windows a training step. */
export const NAMES_BATCH = 32;

/** A split of the names, its token streams and the bigram baseline on the held-out positions. */
export interface NamesTask {
  train: string[];
  heldOut: string[];
  tokenizer: CharTokenizer;
  /** The training names' token stream, for sampleBatch. */
  trainStream: Int32Array;
  /** The held-out names' stream as windows of NAMES_GPT.blockSize, for evaluate. */
  heldOutWindows: Windows;
  /** A bigram fitted on the training stream: its mean loss in nats over the held-out windows' targets. */
  bigram: number;
}

/** The names (distinct, a–z) split with `seed`, a tenth held out, tokenized, and the bigram's held-out loss. */
export function namesTask(names: readonly string[], seed = 1): NamesTask {
  const { train, heldOut } = splitNames(names, seed, 0.1);
  const tokenizer = CharTokenizer.fromText(names.join(''), { specials: ['.'] });
  const trainStream = tokenStream(train, tokenizer);
  const heldOutWindows = windows(tokenStream(heldOut, tokenizer), NAMES_GPT.blockSize);
  const bigram = bigramLoss(fitBigram(trainStream, tokenizer.vocabSize), heldOutWindows);
  return { train, heldOut, tokenizer, trainStream, heldOutWindows, bigram };
}

/**
 * nanoGPT's optimizer for a small character model: AdamW at lr 3e-3, betas (0.9, 0.99), weight decay
 * 0.1 but none on biases and norms, and a cosine from 3e-3 to 3e-4 over `steps` after 100 steps of
 * warmup (the lr stays at 3e-4 after them). Call scheduler.step() after each training step.
 */
export function namesOptimizer(model: Model, steps: number): { optimizer: AdamW; scheduler: CosineAnnealingLR } {
  const optimizer = new AdamW(model, { lr: 3e-3, betas: [0.9, 0.99], weightDecay: 0.1, groups: [{ params: 'noDecay', weightDecay: 0 }] });
  return { optimizer, scheduler: new CosineAnnealingLR(optimizer, { tMax: steps, warmupEpochs: 100, etaMin: 3e-4 }) };
}

/** A new name from the model: drawn after '.' at temperature 0.8 until the next '.' (up to two contexts long). */
export function sampleName(model: Model, tokenizer: CharTokenizer, seed: number): string {
  const sampled = generate(model, [0], { maxNewTokens: 2 * NAMES_GPT.blockSize, temperature: 0.8, seed, stopToken: 0 });
  return tokenizer.decode(sampled.subarray(1)).replace(/\.$/, '');
}

/** What normalizeNames kept, and what it did not. */
export interface NormalizedNames {
  /** Distinct lowercase names of a–z only, sorted. */
  names: string[];
  /** The lowercased names dropped for a character other than a–z, in the order met. */
  dropped: string[];
  /** How many kept names were met again (in the other list, or twice in one). */
  duplicates: number;
}

/** Lowercases `raw`, drops every name with a character other than a–z, keeps each name once, sorted. */
export function normalizeNames(raw: readonly string[]): NormalizedNames {
  const kept = new Set<string>();
  const dropped: string[] = [];
  let duplicates = 0;
  for (const name of raw) {
    const lower = name.toLowerCase();
    if (!/^[a-z]+$/.test(lower)) dropped.push(lower);
    else if (kept.has(lower)) duplicates++;
    else kept.add(lower);
  }
  return { names: [...kept].sort(), dropped, duplicates };
}

/**
 * Shuffles `names` with Rng(seed) and holds out the first round(heldOutFraction × n) of them; the rest
 * are for training. The same names and seed give the same split; no name is in both (if `names` are distinct).
 */
export function splitNames(names: readonly string[], seed: number, heldOutFraction = 0.1): { train: string[]; heldOut: string[] } {
  if (!(heldOutFraction >= 0 && heldOutFraction <= 1)) {
    throw new SimdpropError('OPTION', `heldOutFraction is ${heldOutFraction}: expected a number in [0, 1]`);
  }
  const order = Int32Array.from(names, (_, i) => i);
  new Rng(seed).shuffle(order);
  const heldOutCount = Math.round(heldOutFraction * names.length);
  const pick = (indices: Int32Array): string[] => Array.from(indices, (i) => names[i]);
  return { heldOut: pick(order.subarray(0, heldOutCount)), train: pick(order.subarray(heldOutCount)) };
}

/**
 * The token stream of `names`: '.' + name + '.' + name + … + '.', each '.' between two names shared
 * (1 + Σ (length + 1) tokens). `tokenizer` must hold '.' and every letter; a name must be non-empty and
 * hold no '.', or the stream could not be cut back into the names.
 */
export function tokenStream(names: readonly string[], tokenizer: CharTokenizer): Int32Array {
  names.forEach((name, i) => {
    if (name.length === 0 || name.includes('.')) throw new SimdpropError('OPTION', `name ${i} is "${name}": a name must be non-empty and hold no '.'`);
  });
  return tokenizer.encode(`.${names.map((name) => `${name}.`).join('')}`);
}

/**
 * Fills `inputs` and `targets` (each batchSize × blockSize, row-major) with batchSize windows of the
 * stream at offsets drawn uniformly from [0, stream.length − blockSize): targets[b, t] = the token
 * after inputs[b, t]. Allocates nothing, so it can run every step.
 */
export function sampleBatch(
  stream: Int32Array, batchSize: number, blockSize: number, rng: Rng, inputs: Int32Array, targets: Int32Array,
): void {
  checkBlock(stream, blockSize);
  if (inputs.length !== batchSize * blockSize || targets.length !== batchSize * blockSize) {
    throw new SimdpropError('SHAPE', `inputs and targets hold ${inputs.length} and ${targets.length} tokens: expected batchSize × blockSize = ${batchSize * blockSize}`);
  }
  const offsets = stream.length - blockSize;
  for (let row = 0; row < batchSize; row++) {
    const start = rng.below(offsets);
    const first = row * blockSize;
    for (let t = 0; t < blockSize; t++) {
      inputs[first + t] = stream[start + t];
      targets[first + t] = stream[start + t + 1];
    }
  }
}

/** Consecutive windows of a stream: `count` rows of blockSize tokens each, row-major. */
export interface Windows {
  inputs: Int32Array;
  targets: Int32Array;
  count: number;
}

/**
 * The stream cut for evaluation into floor((stream.length − 1) / blockSize) consecutive windows:
 * window w's inputs are stream[w·T … w·T + T − 1] and its targets stream[w·T + 1 … w·T + T], so every
 * position 1 … count·T of the stream is a target exactly once; the last (stream.length − 1) mod T are not.
 */
export function windows(stream: Int32Array, blockSize: number): Windows {
  checkBlock(stream, blockSize);
  const count = Math.floor((stream.length - 1) / blockSize);
  const length = count * blockSize;
  return { inputs: stream.slice(0, length), targets: stream.slice(1, length + 1), count };
}

/**
 * The bigram model of `stream`: a vocabSize × vocabSize row-major table whose row a is the probability
 * of each next token after a, from the counts of every consecutive pair of the stream plus `smoothing`
 * in each cell (add-one by default, as makemore). With smoothing 0, a row whose token never precedes
 * another stays all zeros.
 */
export function fitBigram(stream: Int32Array, vocabSize: number, smoothing = 1): Float64Array {
  if (!(smoothing >= 0)) throw new SimdpropError('OPTION', `smoothing is ${smoothing}: expected a number ≥ 0`);
  const table = new Float64Array(vocabSize * vocabSize).fill(smoothing);
  for (let i = 0; i + 1 < stream.length; i++) {
    table[checkToken(stream, i, vocabSize) * vocabSize + checkToken(stream, i + 1, vocabSize)]++;
  }
  for (let row = 0; row < vocabSize; row++) {
    const probabilities = table.subarray(row * vocabSize, (row + 1) * vocabSize);
    const total = probabilities.reduce((sum, count) => sum + count, 0);
    if (total > 0) for (let next = 0; next < vocabSize; next++) probabilities[next] /= total;
  }
  return table;
}

/**
 * The bigram's mean negative log-likelihood in nats of each target given the input before it, over
 * every position of `batch` — pass windows(stream, T) to count exactly the positions a model's
 * held-out loss on those windows counts.
 */
export function bigramLoss(table: Float64Array, batch: Pick<Windows, 'inputs' | 'targets'>): number {
  const vocabSize = Math.round(Math.sqrt(table.length));
  if (vocabSize * vocabSize !== table.length) throw new SimdpropError('SHAPE', `the table holds ${table.length} numbers: not vocabSize × vocabSize`);
  if (batch.inputs.length !== batch.targets.length || batch.inputs.length === 0) {
    throw new SimdpropError('SHAPE', `inputs and targets hold ${batch.inputs.length} and ${batch.targets.length} tokens: expected the same number, at least 1`);
  }
  let total = 0;
  for (let i = 0; i < batch.inputs.length; i++) {
    total -= Math.log(table[checkToken(batch.inputs, i, vocabSize) * vocabSize + checkToken(batch.targets, i, vocabSize)]);
  }
  return total / batch.inputs.length;
}

function checkBlock(stream: Int32Array, blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < 1) throw new SimdpropError('OPTION', `blockSize is ${blockSize}: expected an integer ≥ 1`);
  if (stream.length < blockSize + 1) {
    throw new SimdpropError('SHAPE', `the stream holds ${stream.length} tokens: a window needs blockSize + 1 = ${blockSize + 1}`);
  }
}

function checkToken(tokens: Int32Array, position: number, vocabSize: number): number {
  const token = tokens[position];
  if (token < 0 || token >= vocabSize) throw new SimdpropError('LABEL', `token ${token} at position ${position} is not in [0, ${vocabSize})`);
  return token;
}

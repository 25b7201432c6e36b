// Training workloads: the same networks, data and optimizer settings for every backend. A Trainer
// does one step on one of the batches made once beforehand, so the timed call does the step and
// nothing else; the toy's timed call is TOY_STEPS full-batch steps. Images are channels-last
// [batch, height, width, channels], row-major, for every backend.
import {
  Adam, AdamW, Model, Rng, SGD, Sequential, add, conv2d, dense, flatten, gpt, input, layerNorm, maxPool2d, type BackendName, type GPTConfig, type Layer,
} from '../src/index.js';
import { PlainMlp, type PlainLoss, type PlainOptimizer } from './baselines/plain.js';
import type { BackendId } from './report.js';

export type OptimizerSpec = PlainOptimizer;

export interface TrainingWorkload {
  /** The row's name in the table. */
  name: string;
  /** Layer widths, input first. Hidden layers use relu; the last is linear (softmax CE) or sigmoid (BCE). */
  widths: readonly number[];
  batchSize: number;
  loss: PlainLoss;
  optimizer: OptimizerSpec;
  /** Training steps per timed call: 1, or TOY_STEPS for the toy. */
  stepsPerCall: number;
  /**
   * A residual MLP instead of a stack: widths[0] → dense to `width` → `blocks` pre-norm residual blocks
   * x + dense(relu(dense(layerNorm(x)))) through `hidden` → layerNorm → dense to widths[1].
   */
  residual?: { width: number; hidden: number; blocks: number };
  /** A CNN instead of a stack (widths is then [input size, classes]). */
  cnn?: CnnSpec;
  /**
   * A GPT (gpt()) on windows of blockSize tokens instead of a stack (widths is then [blockSize,
   * vocabSize]); trained with AdamW in nanoGPT's groups and clipping at 1, and counted in tokens.
   */
  gpt?: GPTConfig;
  /** Peers whose step takes minutes here: timed only with `--slow-peers`. */
  minutesPerStepOn?: readonly BackendId[];
}

/**
 * One layer of a CNN workload: a convolution (stride 1, zero padding on each side, relu after it), a
 * max pooling (window = stride = size), or a dense layer (relu but the last, linear); a flatten of the
 * feature map comes before the first dense layer.
 */
export type CnnLayer =
  | { kind: 'conv'; outChannels: number; kernel: number; padding: number }
  | { kind: 'maxPool'; size: number }
  | { kind: 'dense'; outputs: number };

export interface CnnSpec {
  /** One sample, channels last: [height, width, channels]. */
  inputShape: readonly [number, number, number];
  layers: readonly CnnLayer[];
}

/** [height, width, channels] of one sample (a dense layer's features as [1, 1, features]). */
export type SampleShape = readonly [number, number, number];

/** A CNN layer with the per-sample shapes it takes and gives. */
export interface PlannedLayer {
  layer: CnnLayer;
  input: SampleShape;
  output: SampleShape;
  /** Multiply-adds of its product per sample (a convolution: output positions · kernel² · in · out); 0 for pooling. */
  macsPerSample: number;
}

/** Each layer of a CNN with its shapes, checked to end at `classes` outputs. */
export function cnnPlan(spec: CnnSpec): PlannedLayer[] {
  let shape: SampleShape = spec.inputShape;
  return spec.layers.map((layer) => {
    const [height, width, channels] = shape;
    let output: SampleShape;
    let macsPerSample = 0;
    if (layer.kind === 'conv') {
      const out = (size: number): number => size + 2 * layer.padding - layer.kernel + 1;
      output = [out(height), out(width), layer.outChannels];
      macsPerSample = output[0] * output[1] * layer.kernel * layer.kernel * channels * layer.outChannels;
    } else if (layer.kind === 'maxPool') {
      output = [Math.floor(height / layer.size), Math.floor(width / layer.size), channels];
    } else {
      output = [1, 1, layer.outputs];
      macsPerSample = height * width * channels * layer.outputs;
    }
    const planned = { layer, input: shape, output, macsPerSample };
    shape = output;
    return planned;
  });
}

/** The products of a workload, as [inputs, outputs] of each dense layer in order (the first needs no input gradient). */
function denseShapes(workload: TrainingWorkload): [number, number][] {
  const { widths, residual } = workload;
  if (!residual) return widths.slice(1).map((outputs, l) => [widths[l], outputs]);
  const blocks = Array.from({ length: residual.blocks }, (): [number, number][] => [[residual.width, residual.hidden], [residual.hidden, residual.width]]);
  return [[widths[0], residual.width], ...blocks.flat(), [residual.width, widths[1]]];
}

/**
 * Multiply-adds per token of a GPT's forward products: per block the qkv projection (3C²), the attention
 * scores and weighted sum over the full T×T (2·T·C, the masked half included, as the issue counts),
 * the output projection (C²) and the MLP (8C²); then the head (C·V). The 4-layer, 128-wide GPT of
 * context 32 and vocabulary 32: 823,296, so 4.94 MFLOP per token for a step's three products.
 */
function gptMacsPerToken({ nLayer, nEmbd: C, blockSize: T, vocabSize: V }: GPTConfig): number {
  return nLayer * (12 * C * C + 2 * T * C) + C * V;
}

/** What a training row counts: samples, or a GPT's tokens (blockSize a sample). */
export function itemsPerStep(workload: TrainingWorkload): number {
  return workload.batchSize * (workload.gpt?.blockSize ?? 1);
}

export function itemUnit(workload: TrainingWorkload): string {
  return workload.gpt ? 'tokens/s' : 'samples/s';
}

/** Multiply-adds per sample of each layer's forward product, in order (dense layers and convolutions). */
function productMacs(workload: TrainingWorkload): number[] {
  if (workload.gpt) return [workload.gpt.blockSize * gptMacsPerToken(workload.gpt)];
  if (workload.cnn) return cnnPlan(workload.cnn).flatMap(({ macsPerSample }) => (macsPerSample > 0 ? [macsPerSample] : []));
  return denseShapes(workload).map(([inputs, outputs]) => inputs * outputs);
}

/**
 * FLOPs of one step's products: the forward product (X·W, or a convolution's im2col(x)·W) for every
 * layer, the weight gradient (Xᵀ·dZ) for every layer and the input gradient (dZ·Wᵀ) for every layer
 * but the first (its input needs no gradient), each as many multiply-adds as the forward's, 2 FLOPs
 * per multiply-add; pooling has no product. 784-512-512-10 at batch 128: 411 MFLOP. LeNet-5: 2.26
 * MFLOP per sample (its first convolution 0.24, the second 1.44, the dense layers 0.58); the small VGG:
 * 151.4 MFLOP per sample (its convolutions 144.9, the dense layers 6.3). The elementwise work
 * (bias, activations, pooling), the loss and the update are not counted.
 */
export function trainingFlops(workload: TrainingWorkload): number {
  let macs = 0;
  productMacs(workload).forEach((macsPerSample, layer) => {
    // A GPT's first product (c_attn of block 0) reads the embeddings, which want their gradient.
    const products = layer === 0 && !workload.gpt ? 2 : 3;
    macs += products * workload.batchSize * macsPerSample;
  });
  return 2 * macs * workload.stepsPerCall;
}

/** Inputs and targets of every batch: views made once (labels for softmax CE, floats for BCE; a GPT's token windows). */
export interface TrainingData {
  inputs: (Float32Array | Int32Array)[];
  targets: (Int32Array | Float32Array)[];
}

/** One backend's model of a workload. */
export interface Trainer {
  /** One training step on batch `batch`; returns its mean loss. */
  step(batch: number): number;
  dispose(): void;
}

/** nanoGPT's recipe for the GPT rows, on every backend: AdamW's decay on 2-D weights only, and clipping. */
export const GPT_WEIGHT_DECAY = 0.1;
export const GPT_CLIP_NORM = 1;

const SGD_CLASSIFIER: OptimizerSpec = { kind: 'sgd', lr: 0.01 };
// PyTorch's defaults, spelled out: tfjs's Adam defaults to epsilon 1e-7.
const ADAM: OptimizerSpec = { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

/** LeNet-5 on 28×28×1: conv 5×5 6 (padding 2), pool 2, conv 5×5 16, pool 2, 120, 84, 10. */
const LENET: CnnSpec = {
  inputShape: [28, 28, 1],
  layers: [
    { kind: 'conv', outChannels: 6, kernel: 5, padding: 2 }, { kind: 'maxPool', size: 2 },
    { kind: 'conv', outChannels: 16, kernel: 5, padding: 0 }, { kind: 'maxPool', size: 2 },
    { kind: 'dense', outputs: 120 }, { kind: 'dense', outputs: 84 }, { kind: 'dense', outputs: 10 },
  ],
};

/** A small VGG on 32×32×3: two conv 3×3 32, pool 2, two conv 3×3 64, pool 2, 256, 10; padding 1 ('same'). */
const SMALL_VGG: CnnSpec = {
  inputShape: [32, 32, 3],
  layers: [
    { kind: 'conv', outChannels: 32, kernel: 3, padding: 1 }, { kind: 'conv', outChannels: 32, kernel: 3, padding: 1 }, { kind: 'maxPool', size: 2 },
    { kind: 'conv', outChannels: 64, kernel: 3, padding: 1 }, { kind: 'conv', outChannels: 64, kernel: 3, padding: 1 }, { kind: 'maxPool', size: 2 },
    { kind: 'dense', outputs: 256 }, { kind: 'dense', outputs: 10 },
  ],
};

/** Steps per timed call of the toy. */
export const TOY_STEPS = 1000;
const TOY_ROWS = 100;

export const TRAINING_WORKLOADS: readonly TrainingWorkload[] = [
  { name: 'train 784-128-10 b64 SGD', widths: [784, 128, 10], batchSize: 64, loss: 'softmaxCrossEntropy', optimizer: SGD_CLASSIFIER, stepsPerCall: 1 },
  { name: 'train 784-512-512-10 b128 SGD', widths: [784, 512, 512, 10], batchSize: 128, loss: 'softmaxCrossEntropy', optimizer: SGD_CLASSIFIER, stepsPerCall: 1 },
  { name: 'train 784-512-512-10 b128 Adam', widths: [784, 512, 512, 10], batchSize: 128, loss: 'softmaxCrossEntropy', optimizer: ADAM, stepsPerCall: 1 },
  // A graph: three residual blocks with layer norm (the shape of a transformer's MLP half), at a
  // transformer's learning rate: at 1e-3 its first steps on one batch overshoot (2.91 → 3.50 → 3.17).
  {
    name: 'train residual MLP 784-256×3 blocks (LN, 1024)-10 b128 Adam', widths: [784, 10], batchSize: 128, loss: 'softmaxCrossEntropy',
    optimizer: { ...ADAM, lr: 3e-4 }, stepsPerCall: 1, residual: { width: 256, hidden: 1024, blocks: 3 },
  },
  // The two CNNs (relu after every convolution and every dense layer but the last).
  { name: 'train LeNet-5 28×28×1 b64 SGD', widths: [28 * 28, 10], batchSize: 64, loss: 'softmaxCrossEntropy', optimizer: SGD_CLASSIFIER, stepsPerCall: 1, cnn: LENET },
  // At lr 0.01 the VGG's first steps on one batch overshoot (3.90 → 6.49 → 7.74); at 1e-3 they fall (3.90 → 2.33 → 2.13).
  // tfjs-cpu's Conv2DBackpropFilter reads its operands element by element through TensorBuffer.get
  // (a few MFLOP/s): one VGG step takes it minutes (305 s on a busy 2-core host).
  {
    name: 'train small VGG 32×32×3 b32 SGD', widths: [32 * 32 * 3, 10], batchSize: 32, loss: 'softmaxCrossEntropy',
    optimizer: { kind: 'sgd', lr: 1e-3 }, stepsPerCall: 1, cnn: SMALL_VGG, minutesPerStepOn: ['tfjs-cpu'],
  },
  // The GPT: 4 layers, 4 heads, 128 wide, vocabulary 32, context 32, batch 16, AdamW.
  {
    name: 'train GPT 4×128 (4 heads) T32 V32 b16 AdamW', widths: [32, 32], batchSize: 16, loss: 'softmaxCrossEntropy',
    optimizer: { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.95, epsilon: 1e-8 }, stepsPerCall: 1,
    gpt: { vocabSize: 32, blockSize: 32, nLayer: 4, nHead: 4, nEmbd: 128 },
  },
  // examples/main.ts's classic demo: 100 samples of x0 + x1 > 0, full batch.
  { name: `train 2-4-1 toy, ${TOY_STEPS} steps`, widths: [2, 4, 1], batchSize: TOY_ROWS, loss: 'bce', optimizer: { kind: 'sgd', lr: 0.1 }, stepsPerCall: TOY_STEPS },
];

const CLASSES = 10;
/** Distinct batches the classifiers' timed calls cycle through. */
export const BATCH_COUNT = 16;

/**
 * Seeded data for a workload: digits-like classes for the classifiers (rows of widths[0] features: a
 * CNN's images, channels last), the toy's one full batch.
 */
export function trainingData(workload: TrainingWorkload): TrainingData {
  if (workload.gpt) return tokenData(workload.batchSize, workload.gpt);
  return workload.loss === 'bce' ? toyData() : classifierData(workload.batchSize, workload.widths[0]);
}

// Token windows with something to learn: a stream where each token mostly follows from the one before
// (a random successor table, 3 likely successors each); targets are the next tokens.
function tokenData(batchSize: number, { vocabSize, blockSize }: GPTConfig): TrainingData {
  const rng = new Rng(2024);
  const successors = Int32Array.from({ length: vocabSize * 3 }, () => rng.below(vocabSize));
  const length = batchSize * BATCH_COUNT * blockSize + 1;
  const stream = new Int32Array(length);
  for (let i = 1; i < length; i++) stream[i] = rng.uniform() < 0.9 ? successors[stream[i - 1] * 3 + rng.below(3)] : rng.below(vocabSize);
  const data: TrainingData = { inputs: [], targets: [] };
  const tokens = batchSize * blockSize;
  for (let b = 0; b < BATCH_COUNT; b++) {
    data.inputs.push(stream.subarray(b * tokens, (b + 1) * tokens));
    data.targets.push(stream.subarray(b * tokens + 1, (b + 1) * tokens + 1));
  }
  return data;
}

// Digits-like data: one random prototype per class plus noise, so the loss has something to learn.
function classifierData(batchSize: number, inputSize: number): TrainingData {
  const rng = new Rng(2024);
  const prototypes = new Float32Array(CLASSES * inputSize);
  for (let i = 0; i < prototypes.length; i++) prototypes[i] = rng.uniform();
  const rows = batchSize * BATCH_COUNT;
  const x = new Float32Array(rows * inputSize);
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const label = rng.below(CLASSES);
    y[r] = label;
    for (let c = 0; c < inputSize; c++) x[r * inputSize + c] = prototypes[label * inputSize + c] + rng.normal();
  }
  const data: TrainingData = { inputs: [], targets: [] };
  for (let b = 0; b < BATCH_COUNT; b++) {
    data.inputs.push(x.subarray(b * batchSize * inputSize, (b + 1) * batchSize * inputSize));
    data.targets.push(y.subarray(b * batchSize, (b + 1) * batchSize));
  }
  return data;
}

function toyData(): TrainingData {
  const rng = new Rng(42);
  const x = new Float32Array(TOY_ROWS * 2);
  const y = new Float32Array(TOY_ROWS);
  for (let r = 0; r < TOY_ROWS; r++) {
    x[2 * r] = rng.normal();
    x[2 * r + 1] = rng.normal();
    y[r] = x[2 * r] + x[2 * r + 1] > 0 ? 1 : 0;
  }
  return { inputs: [x], targets: [y] };
}

/** The residual workload's graph: see TrainingWorkload.residual. */
function residualModel(workload: TrainingWorkload, backend: BackendName): Model {
  const { widths } = workload;
  const { width, hidden, blocks } = workload.residual!;
  const x = input([widths[0]]);
  let h = dense(widths[0], width).apply(x);
  for (let b = 0; b < blocks; b++) {
    const inner = dense(width, hidden, 'relu').apply(layerNorm(width).apply(h));
    h = add(h, dense(hidden, width).apply(inner));
  }
  return new Model({ inputs: x, outputs: dense(width, widths[1]).apply(layerNorm(width).apply(h)) }, { seed: 7, backend });
}

/** A CNN workload's layers: conv2d (relu fused), maxPool2d, a flatten, dense layers. */
function cnnLayers(spec: CnnSpec): Layer[] {
  const plan = cnnPlan(spec);
  // The last layer gives the logits.
  const lastDense = plan.length - 1;
  return plan.flatMap(({ layer, input: [height, width, channels] }, l): Layer[] => {
    if (layer.kind === 'conv') return [conv2d(channels, layer.outChannels, layer.kernel, { padding: layer.padding, activation: 'relu' })];
    if (layer.kind === 'maxPool') return [maxPool2d(layer.size)];
    const features = height * width * channels;
    const layers = [dense(features, layer.outputs, l < lastDense ? 'relu' : 'linear')];
    return plan[l - 1]?.layer.kind === 'dense' ? layers : [flatten(), ...layers];
  });
}

/** simdprop's trainStep on one backend: a Sequential (of dense layers, or a CNN's), or the residual workload's Model. */
export function simdpropTrainer(workload: TrainingWorkload, data: TrainingData, backend: BackendName): Trainer {
  const { widths, optimizer: spec, cnn } = workload;
  const last = widths.length - 2;
  const layers = widths.slice(1).map((outputSize, l) =>
    dense(widths[l], outputSize, l < last ? 'relu' : workload.loss === 'bce' ? 'sigmoid' : 'linear'));
  const model = workload.gpt ? gpt(workload.gpt, { seed: 7, backend })
    : workload.residual ? residualModel(workload, backend)
    : cnn ? new Sequential(cnnLayers(cnn), { inputShape: cnn.inputShape, seed: 7, backend })
    : new Sequential(layers, { seed: 7, backend });
  const optimizer = spec.kind === 'sgd'
    ? new SGD(model, { lr: spec.lr })
    : workload.gpt
      ? new AdamW(model, { lr: spec.lr, betas: [spec.beta1, spec.beta2], eps: spec.epsilon, weightDecay: GPT_WEIGHT_DECAY, groups: [{ params: 'noDecay', weightDecay: 0 }] })
      : new Adam(model, { lr: spec.lr, betas: [spec.beta1, spec.beta2], eps: spec.epsilon });
  const options = { loss: workload.loss, optimizer, clipNorm: workload.gpt ? GPT_CLIP_NORM : undefined };
  return {
    step: (batch) => model.trainStep(data.inputs[batch], data.targets[batch], options),
    dispose: () => model.dispose(),
  };
}

/** The plain hand-written JS baseline (dense stacks only: undefined for the residual and CNN workloads). */
export function plainTrainer(workload: TrainingWorkload, data: TrainingData): Trainer | undefined {
  if (workload.residual || workload.cnn || workload.gpt) return undefined;
  const rng = new Rng(7);
  const model = new PlainMlp({
    widths: workload.widths,
    loss: workload.loss,
    optimizer: workload.optimizer,
    batchSize: workload.batchSize,
    random: () => rng.uniform(),
  });
  // Its workloads are dense stacks: float features, never token ids.
  return { step: (batch) => model.trainStep(data.inputs[batch] as Float32Array, data.targets[batch]), dispose: () => {} };
}

/** A model whose loss did not fall: the run stops on it whichever backend throws it. */
export class DoesNotLearn extends Error {}

/**
 * Runs `steps` (≥ 2) steps on batch 0, proof that the model trains at all: throws DoesNotLearn unless
 * the last loss is finite and below the first (and whatever the steps throw). Returns the seconds the steps took, on average: an estimate of a
 * step's cost.
 */
export function checkLearns(trainer: Trainer, steps: number, what: string): number {
  const start = performance.now();
  const first = trainer.step(0);
  let last = first;
  for (let s = 1; s < steps; s++) last = trainer.step(0);
  if (!(Number.isFinite(last) && last < first)) {
    throw new DoesNotLearn(`${what}: loss went from ${first} to ${last} in ${steps} steps on one batch: ` +
      'refusing to benchmark a model that does not train');
  }
  return (performance.now() - start) / 1000 / steps;
}

/** The call that is timed: stepsPerCall steps, cycling through the batches; sums the losses. */
export function trainingCall(workload: TrainingWorkload, trainer: Trainer): { call: () => void; meanLoss: () => number } {
  const batches = workload.stepsPerCall === 1 ? BATCH_COUNT : 1;
  let next = 0;
  let steps = 0;
  let lossSum = 0;
  const call = (): void => {
    for (let s = 0; s < workload.stepsPerCall; s++) {
      lossSum += trainer.step(next);
      next = next + 1 === batches ? 0 : next + 1;
    }
    steps += workload.stepsPerCall;
  };
  return { call, meanLoss: () => lossSum / steps };
}

// Training workloads: the same networks, data and optimizer settings for every backend. A Trainer
// does one step on one of the batches made once beforehand, so the timed call does the step and
// nothing else; the toy's timed call is TOY_STEPS full-batch steps.
import { Adam, Model, Rng, SGD, Sequential, add, dense, input, layerNorm, type BackendName } from '../src/index.js';
import { PlainMlp, type PlainLoss, type PlainOptimizer } from './baselines/plain.js';

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
}

/** The products of a workload, as [inputs, outputs] of each dense layer in order (the first needs no input gradient). */
function denseShapes(workload: TrainingWorkload): [number, number][] {
  const { widths, residual } = workload;
  if (!residual) return widths.slice(1).map((outputs, l) => [widths[l], outputs]);
  const blocks = Array.from({ length: residual.blocks }, (): [number, number][] => [[residual.width, residual.hidden], [residual.hidden, residual.width]]);
  return [[widths[0], residual.width], ...blocks.flat(), [residual.width, widths[1]]];
}

/**
 * FLOPs of one step's products: X·W for every layer, Xᵀ·dZ for every layer and dZ·Wᵀ for every layer
 * but the first (its input needs no gradient), 2 per multiply-add. 784-512-512-10 at batch 128:
 * 411 MFLOP. The elementwise work, the loss and the update are not counted.
 */
export function trainingFlops(workload: TrainingWorkload): number {
  let macs = 0;
  denseShapes(workload).forEach(([inputs, outputs], layer) => {
    const products = layer === 0 ? 2 : 3;
    macs += products * workload.batchSize * inputs * outputs;
  });
  return 2 * macs * workload.stepsPerCall;
}

/** Inputs and targets of every batch: views made once (labels for softmax CE, floats for BCE). */
export interface TrainingData {
  inputs: Float32Array[];
  targets: (Int32Array | Float32Array)[];
}

/** One backend's model of a workload. */
export interface Trainer {
  /** One training step on batch `batch`; returns its mean loss. */
  step(batch: number): number;
  dispose(): void;
}

const SGD_CLASSIFIER: OptimizerSpec = { kind: 'sgd', lr: 0.01 };
// PyTorch's defaults, spelled out: tfjs's Adam defaults to epsilon 1e-7.
const ADAM: OptimizerSpec = { kind: 'adam', lr: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };

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
  // examples/main.ts's classic demo: 100 samples of x0 + x1 > 0, full batch.
  { name: `train 2-4-1 toy, ${TOY_STEPS} steps`, widths: [2, 4, 1], batchSize: TOY_ROWS, loss: 'bce', optimizer: { kind: 'sgd', lr: 0.1 }, stepsPerCall: TOY_STEPS },
];

const INPUT_SIZE = 784;
const CLASSES = 10;
/** Distinct batches the classifiers' timed calls cycle through. */
export const BATCH_COUNT = 16;

/** Seeded data for a workload: digits-like classes for the classifiers, the toy's one full batch. */
export function trainingData(workload: TrainingWorkload): TrainingData {
  return workload.loss === 'bce' ? toyData() : classifierData(workload.batchSize);
}

// Digits-like data: one random prototype per class plus noise, so the loss has something to learn.
function classifierData(batchSize: number): TrainingData {
  const rng = new Rng(2024);
  const prototypes = new Float32Array(CLASSES * INPUT_SIZE);
  for (let i = 0; i < prototypes.length; i++) prototypes[i] = rng.uniform();
  const rows = batchSize * BATCH_COUNT;
  const x = new Float32Array(rows * INPUT_SIZE);
  const y = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const label = rng.below(CLASSES);
    y[r] = label;
    for (let c = 0; c < INPUT_SIZE; c++) x[r * INPUT_SIZE + c] = prototypes[label * INPUT_SIZE + c] + rng.normal();
  }
  const data: TrainingData = { inputs: [], targets: [] };
  for (let b = 0; b < BATCH_COUNT; b++) {
    data.inputs.push(x.subarray(b * batchSize * INPUT_SIZE, (b + 1) * batchSize * INPUT_SIZE));
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

/** simdprop's trainStep on one backend: a Sequential, or the residual workload's Model. */
export function simdpropTrainer(workload: TrainingWorkload, data: TrainingData, backend: BackendName): Trainer {
  const { widths, optimizer: spec } = workload;
  const last = widths.length - 2;
  const layers = widths.slice(1).map((outputSize, l) =>
    dense(widths[l], outputSize, l < last ? 'relu' : workload.loss === 'bce' ? 'sigmoid' : 'linear'));
  const model = workload.residual ? residualModel(workload, backend) : new Sequential(layers, { seed: 7, backend });
  const optimizer = spec.kind === 'sgd'
    ? new SGD(model, { lr: spec.lr })
    : new Adam(model, { lr: spec.lr, betas: [spec.beta1, spec.beta2], eps: spec.epsilon });
  const options = { loss: workload.loss, optimizer };
  return {
    step: (batch) => model.trainStep(data.inputs[batch], data.targets[batch], options),
    dispose: () => model.dispose(),
  };
}

/** The plain hand-written JS baseline (dense stacks only: undefined for the residual workload). */
export function plainTrainer(workload: TrainingWorkload, data: TrainingData): Trainer | undefined {
  if (workload.residual) return undefined;
  const rng = new Rng(7);
  const model = new PlainMlp({
    widths: workload.widths,
    loss: workload.loss,
    optimizer: workload.optimizer,
    batchSize: workload.batchSize,
    random: () => rng.uniform(),
  });
  return { step: (batch) => model.trainStep(data.inputs[batch], data.targets[batch]), dispose: () => {} };
}

/**
 * Runs `steps` (≥ 2) steps on batch 0, proof that the model trains at all: throws unless the last loss
 * is finite and below the first. Returns the seconds the steps took, on average: an estimate of a
 * step's cost.
 */
export function checkLearns(trainer: Trainer, steps: number, what: string): number {
  const start = performance.now();
  const first = trainer.step(0);
  let last = first;
  for (let s = 1; s < steps; s++) last = trainer.step(0);
  if (!(Number.isFinite(last) && last < first)) {
    throw new Error(`${what}: loss went from ${first} to ${last} in ${steps} steps on one batch: ` +
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

// Training workloads: model.trainStep on seeded synthetic data, cycling through batches whose
// Float32Array / Int32Array views are made once, so the timed call does the step and nothing else.
import { Rng, SGD, Sequential, dense, type BackendName, type Dense } from '../src/index.js';
import { timeCall, type Budget, type Timing } from './measure.js';

export interface ClassifierWorkload {
  /** e.g. "784-128-10": layer widths. */
  name: string;
  layers: () => Dense[];
  batchSize: number;
}

export const CLASSIFIERS: readonly ClassifierWorkload[] = [
  { name: '784-128-10', layers: () => [dense(784, 128, 'relu'), dense(128, 10)], batchSize: 64 },
  { name: '784-512-512-10', layers: () => [dense(784, 512, 'relu'), dense(512, 512, 'relu'), dense(512, 10)], batchSize: 128 },
];

const INPUT_SIZE = 784;
const CLASSES = 10;
/** Distinct batches the timed call cycles through. */
const BATCH_COUNT = 16;
const LEARNING_RATE = 0.01;

// Digits-like data: one random prototype per class plus noise, so the loss has something to learn.
function syntheticBatches(batchSize: number, seed: number): { inputs: Float32Array[]; labels: Int32Array[] } {
  const rng = new Rng(seed);
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
  const inputs: Float32Array[] = [];
  const labels: Int32Array[] = [];
  for (let b = 0; b < BATCH_COUNT; b++) {
    inputs.push(x.subarray(b * batchSize * INPUT_SIZE, (b + 1) * batchSize * INPUT_SIZE));
    labels.push(y.subarray(b * batchSize, (b + 1) * batchSize));
  }
  return { inputs, labels };
}

/** Times one trainStep (softmax cross-entropy on int32 labels, plain SGD) on one backend. */
export function timeClassifier(workload: ClassifierWorkload, backend: BackendName, budget: Budget): { timing: Timing; meanLoss: number } {
  const { inputs, labels } = syntheticBatches(workload.batchSize, 2024);
  const model = new Sequential(workload.layers(), { seed: 7, backend });
  const options = { loss: 'softmaxCrossEntropy' as const, optimizer: new SGD(model, { lr: LEARNING_RATE }) };
  let next = 0;
  let steps = 0;
  let lossSum = 0;
  const step = (): void => {
    lossSum += model.trainStep(inputs[next], labels[next], options);
    next = next + 1 === BATCH_COUNT ? 0 : next + 1;
    steps++;
  };
  const timing = timeCall(`${workload.name} ${backend}`, step, budget);
  model.dispose();
  return { timing, meanLoss: lossSum / steps };
}

/** Steps per timed call of the toy. */
export const TOY_STEPS = 1000;
const TOY_ROWS = 100;

/**
 * Times TOY_STEPS full-batch trainSteps of the 2-4-1 toy (examples/main.ts's classic demo: relu then
 * sigmoid, BCE, SGD lr 0.1, 100 samples of x0 + x1 > 0): per-step overhead, not arithmetic.
 */
export function timeToy(backend: BackendName, budget: Budget): { timing: Timing; meanLoss: number } {
  const rng = new Rng(42);
  const x = new Float32Array(TOY_ROWS * 2);
  const y = new Float32Array(TOY_ROWS);
  for (let r = 0; r < TOY_ROWS; r++) {
    x[2 * r] = rng.normal();
    x[2 * r + 1] = rng.normal();
    y[r] = x[2 * r] + x[2 * r + 1] > 0 ? 1 : 0;
  }
  const model = new Sequential([dense(2, 4, 'relu'), dense(4, 1, 'sigmoid')], { seed: 1, backend });
  const options = { loss: 'bce' as const, optimizer: new SGD(model, { lr: 0.1 }) };
  let calls = 0;
  let lossSum = 0;
  const steps = (): void => {
    for (let s = 0; s < TOY_STEPS; s++) lossSum += model.trainStep(x, y, options);
    calls++;
  };
  const timing = timeCall(`2-4-1 toy ${backend}`, steps, budget);
  model.dispose();
  return { timing, meanLoss: lossSum / (calls * TOY_STEPS) };
}

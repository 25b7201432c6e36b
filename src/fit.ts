// The training loop: the data set is checked once and copied into the backend's memory, then each
// mini-batch is gathered into the model's input and targets regions and trained in one step.
import { matrixRows, nonFiniteError, targetsAreLabels, writeLabels, writeMatrix, writeTargets, type Matrix, type Targets } from './data.js';
import { SimdpropError, describe } from './errors.js';
import { checkLoss, checkLossFitsOutput, huberDelta, targetsAreProbabilities, type LossName, type LossOptions } from './losses.js';
import type { Optimizer } from './optim/optimizer.js';
import { checkNumber } from './optim/optimizer.js';
import { Rng } from './rng.js';
import type { Sequential } from './sequential.js';

export interface FitOptions extends LossOptions {
  loss: LossName;
  optimizer: Optimizer;
  /** Passes over the data (default 1). */
  epochs?: number;
  /** Rows per step (default 32); the last batch of an epoch holds what is left. */
  batchSize?: number;
  /** Visit the rows in a new random order each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffling (default 0). */
  seed?: number;
  /** Print the loss every this many epochs (default 0: never). */
  logEvery?: number;
  /** Called after each epoch with its index (from 0) and mean loss. */
  onEpochEnd?: (epoch: number, loss: number) => void;
}

export interface History {
  /** Mean training loss of each epoch, weighted by rows, so a short last batch counts for what it holds. */
  loss: number[];
}

// Hand the event loop a turn this often, so a page or server stays responsive during fit().
const YIELD_EVERY_MS = 40;

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function checkCount(what: string, value: unknown, fallback: number): number {
  const count = value ?? fallback;
  if (!(typeof count === 'number' && Number.isInteger(count) && count >= 0)) {
    throw new SimdpropError('OPTION', `${what} must be a whole number ≥ 0, got ${describe(count)}`);
  }
  return count;
}

export async function fit(model: Sequential, x: Matrix, y: Targets, options: FitOptions): Promise<History> {
  const loss = checkLoss(options?.loss);
  checkLossFitsOutput(loss, model.layers[model.layers.length - 1].activation);
  const delta = huberDelta(options);
  model.checkOptimizer(options.optimizer);
  const epochs = checkCount('epochs', options.epochs, 1);
  const batchSize = checkCount('batchSize', options.batchSize, 32);
  if (batchSize === 0) throw new SimdpropError('OPTION', 'batchSize must be at least 1');
  const logEvery = checkCount('logEvery', options.logEvery, 0);
  const seed = checkNumber('seed', options.seed ?? 0, -(2 ** 31), 2 ** 32);
  const shuffle = options.shuffle ?? true;

  const rows = matrixRows(x, model.inputSize, 'x');
  const inputWidth = model.inputSize;
  const outputWidth = model.outputSize;
  const labels = loss === 'softmaxCrossEntropy' && targetsAreLabels(y);
  const targetWidth = labels ? 1 : outputWidth;
  const { heap, kernels } = model.backend;

  // Stage the data set: x, then the targets, in a block of their own, freed when fit ends.
  const xBytes = rows * inputWidth * 4;
  const data = heap.alloc(xBytes + rows * targetWidth * 4);
  try {
    writeMatrix(heap.f32, data >> 2, x, inputWidth, 'x');
    if (kernels.count_nonfinite(data, rows * inputWidth) !== 0) throw nonFiniteError(heap.f32, data >> 2, rows * inputWidth, inputWidth, 'x');
    const targets = data + xBytes;
    if (labels) writeLabels(heap.i32, targets >> 2, y as Int32Array | number[], rows, outputWidth, 'y');
    else writeTargets(heap.f32, targets >> 2, y, rows, outputWidth, targetsAreProbabilities(loss), 'y');
    model.reserveRows(Math.min(batchSize, rows));

    const order = new Int32Array(rows);
    for (let r = 0; r < rows; r++) order[r] = r;
    const rng = new Rng(seed);
    const history: History = { loss: [] };
    let lastYield = Date.now();
    for (let epoch = 0; epoch < epochs; epoch++) {
      if (shuffle) rng.shuffle(order);
      let total = 0;
      for (let start = 0; start < rows; start += batchSize) {
        const batch = Math.min(batchSize, rows - start);
        // The model's block may have moved (memory growth): read its regions each batch.
        gatherRows(model, data, targets, order, start, batch, inputWidth, targetWidth, labels);
        total += model.trainStaged(batch, loss, labels, delta, options.optimizer) * batch;
        if (Date.now() - lastYield >= YIELD_EVERY_MS) {
          await yieldToEventLoop();
          lastYield = Date.now();
        }
      }
      const epochLoss = total / rows;
      history.loss.push(epochLoss);
      if (logEvery > 0 && ((epoch + 1) % logEvery === 0 || epoch === epochs - 1)) {
        console.log(`epoch ${String(epoch + 1).padStart(String(epochs).length)}/${epochs}  loss ${epochLoss.toFixed(6)}`);
      }
      options.onEpochEnd?.(epoch, epochLoss);
    }
    return history;
  } finally {
    heap.free(data);
  }
}

// Copies rows order[start … start + batch) of the staged data into the model's input and targets regions.
function gatherRows(
  model: Sequential, data: number, targets: number, order: Int32Array, start: number, batch: number,
  inputWidth: number, targetWidth: number, labels: boolean,
): void {
  const { kernels, heap } = model.backend;
  const input = model.inputPointer;
  const targetRegion = model.targetsPointer;
  const inputRowBytes = inputWidth * 4;
  const targetRowBytes = targetWidth * 4;
  if (labels) {
    const i32 = heap.i32;
    const from = targets >> 2;
    const to = targetRegion >> 2;
    for (let r = 0; r < batch; r++) i32[to + r] = i32[from + order[start + r]];
  }
  for (let r = 0; r < batch; r++) {
    const row = order[start + r];
    kernels.copy(input + r * inputRowBytes, data + row * inputRowBytes, inputWidth);
    if (!labels) kernels.copy(targetRegion + r * targetRowBytes, targets + row * targetRowBytes, targetWidth);
  }
}

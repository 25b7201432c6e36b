// The training loop and evaluation. The data set is checked once and copied into the backend's memory;
// each mini-batch is gathered into the model's input and targets regions and trained in one step.
import type { Backend } from './backend/backend.js';
import { SimdpropError, describe } from './errors.js';
import type { LossSpec } from './graph/objective.js';
import type { LossName } from './losses.js';
import { checkNumber, type Optimizer } from './optim/optimizer.js';
import { LRScheduler, ReduceLROnPlateau } from './optim/schedulers.js';
import { Rng } from './rng.js';
import type { BatchLogs, Callback, EpochLogs, FitContext, FitModel } from './train/callbacks.js';
import { Metric, type MetricName } from './train/metrics.js';
import { progress } from './train/progress.js';

export type { LossSpec };

export interface FitOptions {
  /** The loss on the output, or on each output (an array, or a record by output name). */
  loss: LossSpec;
  /** Huber's threshold (default 1). */
  delta?: number;
  /** Weights of several outputs' losses in the total (default 1 each), in order or by output name. */
  lossWeights?: readonly number[] | Readonly<Record<string, number>>;
  optimizer: Optimizer;
  /** Passes over the data (default 1). */
  epochs?: number;
  /** Rows per step (default 32); the last batch of an epoch holds what is left. */
  batchSize?: number;
  /** Visit the rows in a new random order each epoch (default true). */
  shuffle?: boolean;
  /** Seed of the shuffling (default 0). */
  seed?: number;
  /** Hold out this fraction of the rows — the last ones, before shuffling, as Keras does — for validation. */
  validationSplit?: number;
  /** Validation data, as { x, y } or [x, y] (instead of validationSplit). */
  validationData?: { x: unknown; y: unknown } | [unknown, unknown];
  /** Metrics to report per epoch besides the loss, for training and validation data. */
  metrics?: MetricName[];
  callbacks?: Callback[];
  /** Clip the gradients' total L2 norm to this before each step (clipGradNorm). */
  clipNorm?: number;
  /** A schedule stepped after each epoch; ReduceLROnPlateau gets valLoss (or loss). */
  scheduler?: LRScheduler | ReduceLROnPlateau;
  /** 0 silent (default), 1 a progress bar on a terminal and a line per epoch elsewhere, 2 a line per epoch. */
  verbose?: 0 | 1 | 2;
  /** Print a line every this many epochs (default 0: as verbose says). logEvery: n is verbose 2 every n epochs. */
  logEvery?: number;
  /** Stops fit between batches; the history holds the epochs completed. */
  signal?: AbortSignal;
  /**
   * Stop before an update whose loss or gradients are not finite, so the weights and optimizer state
   * stay those of the last good step, and say where the bad values first appeared (default true).
   */
  nanGuard?: boolean;
  /** Called after each epoch with its index (from 0) and its logs. */
  onEpochEnd?: (epoch: number, logs: Readonly<EpochLogs>) => void;
}

export interface History {
  /** Mean training loss of each epoch, weighted by rows, so a short last batch counts for what it holds. */
  loss: number[];
  /** Mean validation loss of each epoch, when there is validation data. */
  valLoss?: number[];
  /** Each metric per epoch: training under its name, validation as val + Name (e.g. valAccuracy); with several losses, each output's as reconLoss, valReconLoss. */
  metrics: Record<string, number[]>;
  /** The learning rate each epoch trained with. */
  lr: number[];
  /** Epochs completed. */
  epochs: number;
  /** Why fit ended early: 'earlyStopping', 'nan', 'aborted', 'nonFinite' (the guard) or a callback's own reason. */
  stopReason?: string;
  /** With stopReason 'nonFinite': where and what, e.g. "epoch 3, batch 12: the loss is NaN (first in the output of layer 1)". */
  nonFinite?: string;
}

export interface EvaluateOptions {
  loss: LossSpec;
  delta?: number;
  lossWeights?: readonly number[] | Readonly<Record<string, number>>;
  metrics?: MetricName[];
  /** Rows per forward pass (default: the model's current capacity, at least 256). */
  batchSize?: number;
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

function capitalized(name: string): string {
  return name[0].toUpperCase() + name.slice(1);
}

/**
 * What fit and evaluate need of a model: its staged data, steps and losses (Model implements it; the
 * members marked internal there).
 */
export interface TrainableModel extends FitModel {
  readonly backend: Backend;
  training: boolean;
  readonly stateSlotCount: number;
  readonly sectionFloats: number;
  readonly rowCapacity: number;
  readonly refused: 'gradients' | 'update' | undefined;
  readonly outputNames: readonly string[];
  train(): unknown;
  useLosses(loss: unknown, options: { delta?: number; lossWeights?: unknown } | undefined): void;
  lossOf(o: number): { readonly kind: LossName | undefined; readonly labels: boolean };
  /** Each output's loss of the last step, unweighted. */
  readonly lossValues: Float64Array;
  outputShape(o: number): readonly number[];
  outputPointer(o: number): number;
  targetsPointer(o: number): number;
  stageData(x: unknown, y: unknown, whatX: string, whatY: string): StagedSet;
  gather(data: StagedSet, start: number, count: number, order?: number): void;
  freeStaged(data: StagedSet): void;
  reserveRows(rows: number): void;
  useTraining(active: boolean): void;
  checkTrainingRows(rows: number): void;
  /** Runs the model on `rows` gathered samples; returns the losses' weighted sum. */
  evaluateRows(rows: number): number;
  forgetActivations(): void;
  checkOptimizer(optimizer: unknown): void;
  guardedStaged(rows: number, optimizer: Optimizer, clipNorm: number, backup: number): number;
  trainStaged(rows: number, optimizer: Optimizer, clipNorm: number): number;
  firstNonFinite(): string | undefined;
}

/** A staged data set's size (its layout is the model's business). */
interface StagedSet {
  readonly rows: number;
}

/**
 * The loss and metrics of each output with a loss, reported under their names: with several, each
 * output's loss (unweighted) as 'reconLoss' and its metrics prefixed by its name, as 'reconAccuracy'.
 */
interface OutputMetrics {
  output: number;
  metrics: Metric[];
  prefix: string;
  /** The output's loss summed over the rows so far. */
  loss: number;
}

function metricsFor(model: TrainableModel, names: readonly MetricName[]): OutputMetrics[] {
  const outputs = model.outputNames.map((_, o) => o).filter((o) => model.lossOf(o).kind !== undefined);
  return outputs.map((o) => ({
    output: o,
    // Metrics compare outputs with targets: an output whose loss has none ('mean') gets none.
    metrics: model.lossOf(o).kind === 'mean' ? [] : names.map((name) => Metric.of(name, model.lossOf(o).kind!)),
    prefix: outputs.length === 1 ? '' : model.outputNames[o],
    loss: 0,
  }));
}

/** A metric's name in the logs: 'accuracy', or 'reconAccuracy' on output "recon" of several. */
function metricName(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}${capitalized(name)}`;
}

function resetMetrics(groups: OutputMetrics[]): void {
  for (const group of groups) {
    group.loss = 0;
    for (const metric of group.metrics) metric.reset();
  }
}

function addBatch(model: TrainableModel, groups: OutputMetrics[], rows: number): void {
  const { heap } = model.backend;
  for (const group of groups) {
    const shape = model.outputShape(group.output);
    const cols = shape[shape.length - 1];
    const positions = shape.reduce((product, d) => product * d, 1) / cols;
    const { labels } = model.lossOf(group.output);
    group.loss += model.lossValues[group.output] * rows;
    for (const metric of group.metrics) {
      metric.add(heap.f32, heap.i32, model.outputPointer(group.output) >> 2, model.targetsPointer(group.output) >> 2, labels, rows * positions, cols);
    }
  }
}

function report(groups: OutputMetrics[], logs: EpochLogs, validation: boolean, rows: number): void {
  for (const group of groups) {
    if (group.prefix !== '') {
      const name = metricName(group.prefix, 'loss');
      logs[validation ? `val${capitalized(name)}` : name] = group.loss / rows;
    }
    for (const metric of group.metrics) {
      const name = metricName(group.prefix, metric.name);
      logs[validation ? `val${capitalized(name)}` : name] = metric.value();
    }
  }
}

// Loss and metrics of rows [start, start + count) of staged data, batch by batch, no gradients.
function evaluateStaged(
  model: TrainableModel, data: StagedSet, start: number, count: number, batchSize: number, metrics: OutputMetrics[],
): number {
  resetMetrics(metrics);
  model.useTraining(false);
  let total = 0;
  for (let offset = 0; offset < count; offset += batchSize) {
    const rows = Math.min(batchSize, count - offset);
    model.gather(data, start + offset, rows);
    total += model.evaluateRows(rows) * rows;
    addBatch(model, metrics, rows);
  }
  return total / count;
}

/** The loss (averaged over rows) and metrics of the model on x, y; parameters and gradients are untouched. */
export function evaluate(model: TrainableModel, x: unknown, y: unknown, options: EvaluateOptions): EpochLogs {
  model.useLosses(options?.loss, options);
  const metrics = metricsFor(model, options.metrics ?? []);
  const data = model.stageData(x, y, 'x', 'y');
  try {
    const batchSize = checkCount('batchSize', options.batchSize, Math.max(model.rowCapacity, 256)) || 1;
    model.reserveRows(Math.min(batchSize, data.rows));
    const logs: EpochLogs = { loss: evaluateStaged(model, data, 0, data.rows, Math.min(batchSize, data.rows), metrics) };
    report(metrics, logs, false, data.rows);
    return logs;
  } finally {
    model.freeStaged(data);
    model.forgetActivations();
  }
}

export async function fit(model: TrainableModel, x: unknown, y: unknown, options: FitOptions): Promise<History> {
  model.useLosses(options?.loss, options);
  const optimizer = options.optimizer;
  model.checkOptimizer(optimizer);
  const epochs = checkCount('epochs', options.epochs, 1);
  const batchSize = checkCount('batchSize', options.batchSize, 32);
  if (batchSize === 0) throw new SimdpropError('OPTION', 'batchSize must be at least 1');
  const logEvery = checkCount('logEvery', options.logEvery, 0);
  const seed = checkNumber('seed', options.seed ?? 0, -(2 ** 31), 2 ** 32);
  const shuffle = options.shuffle ?? true;
  const clipNorm = options.clipNorm === undefined ? 0 : checkNumber('clipNorm', options.clipNorm, Number.MIN_VALUE, Infinity);
  const split = options.validationSplit === undefined ? 0 : checkNumber('validationSplit', options.validationSplit, 0, 1);
  if (split > 0 && options.validationData) throw new SimdpropError('OPTION', 'give validationSplit or validationData, not both');
  const verbose = options.verbose ?? 0;
  if (verbose !== 0 && verbose !== 1 && verbose !== 2) throw new SimdpropError('OPTION', `verbose must be 0, 1 or 2, got ${describe(verbose)}`);
  const scheduler = options.scheduler;
  if (scheduler !== undefined && !(scheduler instanceof LRScheduler || scheduler instanceof ReduceLROnPlateau)) {
    throw new SimdpropError('OPTION', `scheduler must be a learning-rate schedule (StepLR, CosineAnnealingLR, ReduceLROnPlateau …), got ${describe(scheduler)}`);
  }
  if (scheduler && scheduler.optimizer !== optimizer) throw new SimdpropError('OPTION', 'scheduler must schedule the optimizer fit uses');
  const guard = options.nanGuard ?? true;
  const metrics = metricsFor(model, options.metrics ?? []);
  const validationMetrics = metricsFor(model, options.metrics ?? []);

  // Everything is checked and staged before the first step: a bad argument changes nothing.
  const data = model.stageData(x, y, 'x', 'y');
  let validation: StagedSet | undefined;
  try {
    if (options.validationData) {
      const given = options.validationData;
      const [vx, vy] = Array.isArray(given) ? given : [given.x, given.y];
      validation = model.stageData(vx, vy, 'validationData x', 'validationData y');
    }
  } catch (error) {
    model.freeStaged(data);
    throw error;
  }
  const free = (): void => {
    model.freeStaged(data);
    if (validation) model.freeStaged(validation);
  };
  const validationRows = split > 0 ? Math.floor(data.rows * split) : 0;
  const trainRows = data.rows - validationRows;
  if (trainRows === 0) {
    free();
    throw new SimdpropError('OPTION', `validationSplit ${split} leaves no rows to train on (${data.rows} rows)`);
  }
  // Every batch trains (a last, partial one included): one a layer cannot take fails here, before any step.
  try {
    model.checkTrainingRows(Math.min(batchSize, trainRows));
    if (trainRows % batchSize !== 0) model.checkTrainingRows(trainRows % batchSize);
  } catch (error) {
    free();
    throw error;
  }

  const callbacks: Callback[] = [...(options.callbacks ?? [])];
  if (verbose !== 0 || logEvery > 0) callbacks.push(progress(logEvery > 0 ? 2 : verbose as 1 | 2, trainRows, Math.max(logEvery, 1)));
  let stopReason: string | undefined;
  const context: FitContext = {
    model, optimizer, epochs,
    stop(reason: string) {
      stopReason ??= reason;
    },
  };
  const history: History = { loss: [], metrics: {}, lr: [], epochs: 0 };
  let backup = 0;
  let orderAt = 0;
  const batchLogs: BatchLogs = { loss: 0, rows: 0 };
  // Training batches run in training mode (dropout on), as Keras' fit does; the mode is restored after.
  const wasTraining = model.training;
  model.train();
  try {
    model.reserveRows(Math.min(batchSize, trainRows));
    const order = new Int32Array(trainRows);
    for (let r = 0; r < trainRows; r++) order[r] = r;
    const rng = new Rng(seed);
    const { heap } = model.backend;
    // The epoch's order, copied into the backend's memory once an epoch for gather's kernel.
    orderAt = heap.alloc(trainRows * 4);
    // The NaN guard's copy of the parameters and optimizer state from before the current update.
    const slots = model.stateSlotCount;
    backup = guard ? heap.alloc((1 + slots) * model.sectionFloats * 4) : 0;
    for (const callback of callbacks) await callback.onTrainBegin?.(context);
    let lastYield = Date.now();
    for (let epoch = 0; epoch < epochs && stopReason === undefined; epoch++) {
      for (const callback of callbacks) await callback.onEpochBegin?.(epoch, context);
      if (shuffle) rng.shuffle(order);
      heap.i32.set(order, orderAt >> 2);
      resetMetrics(metrics);
      history.lr.push(optimizer.lr);
      let total = 0;
      let batch = 0;
      for (let start = 0; start < trainRows; start += batchSize, batch++) {
        if (options.signal?.aborted) {
          context.stop('aborted');
          break;
        }
        const rows = Math.min(batchSize, trainRows - start);
        model.gather(data, start, rows, orderAt);
        // One call either way: one crossing into wasm for small models. Guarded, the step refuses
        // non-finite gradients and undoes an update that overflows, saying which happened.
        const batchLoss = guard
          ? model.guardedStaged(rows, optimizer, clipNorm, backup)
          : model.trainStaged(rows, optimizer, clipNorm);
        if (guard && model.refused === 'gradients') {
          const where = model.firstNonFinite();
          history.nonFinite = `epoch ${epoch + 1}, batch ${batch + 1}: ` +
            (Number.isFinite(batchLoss) ? 'a gradient is not finite' : `the loss is ${batchLoss}`) + (where ? ` (first in ${where})` : '');
          context.stop('nonFinite');
          break;
        }
        if (guard && model.refused === 'update') {
          history.nonFinite = `epoch ${epoch + 1}, batch ${batch + 1}: the update made a parameter or optimizer state non-finite (the step is undone)`;
          context.stop('nonFinite');
          break;
        }
        total += batchLoss * rows;
        addBatch(model, metrics, rows);
        batchLogs.loss = batchLoss;
        batchLogs.rows = rows;
        for (const callback of callbacks) callback.onBatchEnd?.(batch, batchLogs, context);
        if (stopReason !== undefined) break;
        if (Date.now() - lastYield >= YIELD_EVERY_MS) {
          await yieldToEventLoop();
          lastYield = Date.now();
        }
      }
      if (stopReason === 'aborted' || stopReason === 'nonFinite') break;
      const logs: EpochLogs = { loss: total / trainRows };
      report(metrics, logs, false, trainRows);
      const validationBatch = Math.max(batchSize, 256);
      if (validation || validationRows > 0) {
        model.reserveRows(Math.min(validationBatch, validation?.rows ?? validationRows));
        logs.valLoss = validation
          ? evaluateStaged(model, validation, 0, validation.rows, validationBatch, validationMetrics)
          : evaluateStaged(model, data, trainRows, validationRows, validationBatch, validationMetrics);
        report(validationMetrics, logs, true, validation?.rows ?? validationRows);
      }
      history.loss.push(logs.loss);
      if (logs.valLoss !== undefined) (history.valLoss ??= []).push(logs.valLoss);
      for (const [name, value] of Object.entries(logs)) {
        if (name !== 'loss' && name !== 'valLoss') (history.metrics[name] ??= []).push(value);
      }
      history.epochs = epoch + 1;
      if (scheduler instanceof ReduceLROnPlateau) scheduler.step(logs.valLoss ?? logs.loss);
      else scheduler?.step();
      for (const callback of callbacks) await callback.onEpochEnd?.(epoch, logs, context);
      options.onEpochEnd?.(epoch, logs);
    }
    for (const callback of callbacks) await callback.onTrainEnd?.(context);
  } finally {
    model.training = wasTraining;
    if (backup !== 0) model.backend.heap.free(backup);
    if (orderAt !== 0) model.backend.heap.free(orderAt);
    free();
  }
  if (stopReason !== undefined) history.stopReason = stopReason;
  return history;
}

// Hooks into fit(): the Callback interface and the built-in callbacks a practitioner reaches for.
import { SimdpropError, describe } from '../errors.js';
import { checkNumber, type Optimizer } from '../optim/optimizer.js';
import { ReduceLROnPlateau, type PlateauOptions } from '../optim/schedulers.js';
import type { Backend } from '../backend/backend.js';

/** An epoch's results: loss, each metric, and valLoss / valAccuracy … when there is validation data. */
export type EpochLogs = Record<string, number>;

export interface BatchLogs {
  /** The batch's mean loss. */
  loss: number;
  /** Rows in the batch. */
  rows: number;
}

/** What callbacks are given of the model fit trains (a Model or Sequential; cast to reach the rest). */
export interface FitModel {
  readonly backend: Backend;
  /** @internal The flat parameter block: earlyStopping keeps a copy of the best epoch's. */
  readonly paramsPointer: number;
  readonly sectionFloats: number;
  /** @internal The buffers (batch norm's running statistics): earlyStopping keeps them with the parameters. */
  readonly buffersPointer: number;
  readonly bufferFloats: number;
  /** The model as safetensors bytes (modelCheckpoint saves them). */
  save(): Uint8Array;
  /** Every parameter tensor with its gradient, as the model's namedParameters() gives them. */
  namedParameters(): readonly { readonly name: string; readonly value: Float32Array; readonly grad: Float32Array }[];
}

export interface FitContext {
  readonly model: FitModel;
  readonly optimizer: Optimizer;
  readonly epochs: number;
  /** Ends fit() after the current batch (onBatchEnd) or epoch (onEpochEnd), with a reason for History.stopReason. */
  stop(reason: string): void;
}

/**
 * Called by fit() at each stage. Hooks may be async (fit awaits them). The batch logs object is
 * reused from batch to batch: copy what you keep.
 */
export interface Callback {
  onTrainBegin?(context: FitContext): void | Promise<void>;
  onEpochBegin?(epoch: number, context: FitContext): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Readonly<BatchLogs>, context: FitContext): void;
  onEpochEnd?(epoch: number, logs: Readonly<EpochLogs>, context: FitContext): void | Promise<void>;
  onTrainEnd?(context: FitContext): void | Promise<void>;
}

export interface MonitorOptions {
  /** The log to watch (default 'valLoss' when there is validation data, else 'loss'). */
  monitor?: string;
  /** 'min' (default for losses) or 'max' (for accuracies); default by the monitor's name. */
  mode?: 'min' | 'max';
}

function monitored(logs: Readonly<EpochLogs>, monitor: string | undefined, who: string): { name: string; value: number } {
  const name = monitor ?? ('valLoss' in logs ? 'valLoss' : 'loss');
  const value = logs[name];
  if (value === undefined) {
    throw new SimdpropError('OPTION', `${who} monitors "${name}", which this fit does not log (it logs ${Object.keys(logs).join(', ')})`);
  }
  return { name, value };
}

function modeFor(name: string, mode: 'min' | 'max' | undefined): 'min' | 'max' {
  if (mode !== undefined && mode !== 'min' && mode !== 'max') throw new SimdpropError('OPTION', `mode must be 'min' or 'max', got ${describe(mode)}`);
  return mode ?? (/accuracy/i.test(name) ? 'max' : 'min');
}

export interface EarlyStoppingOptions extends MonitorOptions {
  /** Epochs without improvement before stopping (default 0). */
  patience?: number;
  /** The smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** Put back the parameters of the best epoch when training stops or ends (default false). */
  restoreBestWeights?: boolean;
}

/** Stops fit() when the monitored log stops improving; optionally restores the best epoch's weights bit-exactly. */
export function earlyStopping(options: EarlyStoppingOptions = {}): Callback {
  const patience = options.patience ?? 0;
  if (!Number.isInteger(patience) || patience < 0) throw new SimdpropError('OPTION', `patience must be a whole number ≥ 0, got ${describe(patience)}`);
  const minDelta = checkNumber('minDelta', options.minDelta ?? 0, 0, Infinity);
  let best = NaN;
  let wait = 0;
  let saved: Float32Array | undefined;
  let savedFloats = 0;
  return {
    onTrainBegin() {
      best = NaN;
      wait = 0;
    },
    onEpochEnd(_epoch, logs, context) {
      const { name, value } = monitored(logs, options.monitor, 'earlyStopping');
      const mode = modeFor(name, options.mode);
      const improved = Number.isNaN(best) || (mode === 'min' ? value < best - minDelta : value > best + minDelta);
      if (improved) {
        best = value;
        wait = 0;
        if (options.restoreBestWeights) {
          const { model } = context;
          if (!saved || savedFloats !== model.sectionFloats + model.bufferFloats) {
            savedFloats = model.sectionFloats + model.bufferFloats;
            saved = new Float32Array(savedFloats);
          }
          saveBest(model, saved);
        }
        return;
      }
      if (++wait > patience) context.stop('earlyStopping');
    },
    onTrainEnd(context) {
      if (options.restoreBestWeights && saved) restoreBest(context.model, saved);
    },
  };
}

// The best epoch's parameters and then its buffers (the running statistics that go with them), bit for bit.
function saveBest(model: FitModel, saved: Float32Array): void {
  const f32 = model.backend.heap.f32;
  saved.set(f32.subarray(model.paramsPointer >> 2, (model.paramsPointer >> 2) + model.sectionFloats));
  saved.set(f32.subarray(model.buffersPointer >> 2, (model.buffersPointer >> 2) + model.bufferFloats), model.sectionFloats);
}

function restoreBest(model: FitModel, saved: Float32Array): void {
  const f32 = model.backend.heap.f32;
  f32.set(saved.subarray(0, model.sectionFloats), model.paramsPointer >> 2);
  f32.set(saved.subarray(model.sectionFloats), model.buffersPointer >> 2);
}

/** Stops fit() as soon as a batch's loss is NaN or infinite. */
export function terminateOnNaN(): Callback {
  return {
    onBatchEnd(_batch, logs, context) {
      if (!Number.isFinite(logs.loss)) context.stop('nan');
    },
  };
}

/** ReduceLROnPlateau driven by fit: steps with the monitored log at the end of each epoch. */
export function reduceLROnPlateau(options: PlateauOptions & { monitor?: string } = {}): Callback {
  let scheduler: ReduceLROnPlateau | undefined;
  return {
    onTrainBegin(context) {
      scheduler = new ReduceLROnPlateau(context.optimizer, { ...options, mode: options.mode ?? modeFor(options.monitor ?? 'loss', undefined) });
    },
    onEpochEnd(_epoch, logs) {
      scheduler!.step(monitored(logs, options.monitor, 'reduceLROnPlateau').value);
    },
  };
}

export interface CheckpointOptions extends MonitorOptions {
  /** Receives the model's bytes (model.save()) after an epoch, or pass `path` in Node. */
  save?: (bytes: Uint8Array, epoch: number, logs: Readonly<EpochLogs>) => void | Promise<void>;
  /** Node: a file path; "{epoch}" is replaced by the epoch's number (from 1). */
  path?: string;
  /** Save only when the monitored log improves (default false: every epoch). */
  saveBestOnly?: boolean;
}

/** Saves the model after each epoch (or each improvement) to a function of yours or, in Node, a file. */
export function modelCheckpoint(options: CheckpointOptions): Callback {
  if (!options || (typeof options.save !== 'function' && typeof options.path !== 'string')) {
    throw new SimdpropError('OPTION', 'modelCheckpoint needs { save: (bytes, epoch, logs) => … } or, in Node, { path }');
  }
  let best = NaN;
  return {
    onTrainBegin() {
      best = NaN;
    },
    async onEpochEnd(epoch, logs, context) {
      if (options.saveBestOnly) {
        const { name, value } = monitored(logs, options.monitor, 'modelCheckpoint');
        const mode = modeFor(name, options.mode);
        if (!(Number.isNaN(best) || (mode === 'min' ? value < best : value > best))) return;
        best = value;
      }
      const bytes = context.model.save();
      if (options.save) await options.save(bytes, epoch, logs);
      if (options.path) {
        const { writeFile } = await import('node:fs/promises');
        await writeFile(options.path.replaceAll('{epoch}', String(epoch + 1)), bytes);
      }
    },
  };
}

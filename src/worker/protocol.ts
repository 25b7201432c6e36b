// The messages between trainInWorker() and the worker that trains: plain data, structured-clonable,
// with the data set and the trained model's bytes transferred rather than copied.
import type { ActivationName } from '../activations.js';
import type { InitOptions } from '../init.js';
import type { LossSpec } from '../fit.js';
import type { ParamGroup } from '../optim/optimizer.js';
import type { MetricName } from '../train/metrics.js';

export interface LayerSpec {
  inputSize: number;
  outputSize: number;
  activation?: ActivationName;
  bias?: boolean;
  negativeSlope?: number;
  /** Dropout after the layer (0: none). */
  dropout?: number;
}

export type OptimizerSpec = (
  | { kind: 'sgd'; lr: number; momentum?: number; dampening?: number; nesterov?: boolean; weightDecay?: number }
  | { kind: 'adam' | 'adamw'; lr?: number; betas?: [number, number]; eps?: number; weightDecay?: number }
  | { kind: 'rmsprop'; lr?: number; alpha?: number; eps?: number; weightDecay?: number; momentum?: number; centered?: boolean }
) & { groups?: ParamGroup[] };

/** One input's (or output's) data as a typed array, or one per input (output), in order or by name. */
export type WorkerData = Float32Array | Int32Array | (Float32Array | Int32Array)[] | Record<string, Float32Array | Int32Array>;

export interface WorkerFitOptions {
  loss: LossSpec;
  lossWeights?: number[] | Record<string, number>;
  optimizer: OptimizerSpec;
  epochs?: number;
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  validationSplit?: number;
  metrics?: MetricName[];
  clipNorm?: number;
  delta?: number;
}

export interface StartMessage {
  type: 'start';
  /** The architecture, or a model saved with model.save() to continue training. */
  layers?: LayerSpec[];
  modelBytes?: Uint8Array;
  seed?: number;
  x: WorkerData;
  y: WorkerData;
  fit: WorkerFitOptions;
  init?: Omit<InitOptions, 'module' | 'bytes'>;
}

export type TrainEvent =
  | { type: 'ready'; description: string; threads: number }
  | { type: 'batch'; epoch: number; batch: number; loss: number; rows: number; samplesPerSecond: number }
  | { type: 'epoch'; epoch: number; logs: Record<string, number>; samplesPerSecond: number };

export type WorkerMessage =
  | TrainEvent
  | { type: 'done'; bytes: Uint8Array; history: unknown }
  | { type: 'error'; message: string; code?: string };

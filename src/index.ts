// simdprop: train neural networks by backpropagation on the CPU, with WebAssembly SIMD.
export { init, getBackend, type InitOptions, type InitReport } from './init.js';
export type { Backend, BackendName } from './backend/backend.js';
export type { Kernels } from './backend/kernels.js';
export { Sequential, type SequentialOptions } from './sequential.js';
export {
  Model, NamedParameter, type ModelOptions, type TrainStepOptions, type Tensors, type Inputs, type InputData, type TargetsFor,
  type LossSpec, type LossCallOptions,
} from './graph/model.js';
export { input, SymbolicTensor, type InputOptions } from './graph/symbolic.js';
export type { Initializer } from './graph/op.js';
export { Layer, type LayerOptions } from './layers/layer.js';
export { Activation, activation, type ActivationOptions } from './layers/activation.js';
export { Add, Multiply, Concat, add, multiply, concat, type ConcatOptions } from './layers/merge.js';
export { Reshape, Flatten, reshape, flatten } from './layers/reshape.js';
export { BatchNorm, batchNorm, type BatchNormOptions } from './layers/batch_norm.js';
export { LayerNorm, layerNorm, type LayerNormOptions } from './layers/layer_norm.js';
export { Conv1d, conv1d, Conv2d, conv2d, type ConvOptions, type PerAxis } from './layers/conv.js';
export { Embedding, embedding } from './layers/embedding.js';
export { PositionEmbedding, positionEmbedding } from './layers/position_embedding.js';
export { CausalSelfAttention, causalSelfAttention, type CausalSelfAttentionOptions } from './layers/attention.js';
export { gpt, type GPTConfig, type GPTOptions } from './models/gpt.js';
export { generate, type GenerateOptions } from './models/generate.js';
export {
  MaxPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool1d, AvgPool1d, GlobalAvgPool1d, maxPool2d, avgPool2d, globalAvgPool2d, maxPool1d, avgPool1d,
  globalAvgPool1d, type PoolSize, type Pool2dOptions, type Pool1dOptions, type AvgPool2dOptions, type AvgPool1dOptions,
} from './layers/pool.js';
export { CustomLayer, customLayer, type CustomLayerDefinition, type CustomForward, type CustomBackward, type CustomParameter } from './layers/custom.js';
export { Dense, dense, type DenseOptions } from './layers/dense.js';
export { ACTIVATIONS, type ActivationName } from './activations.js';
export { LOSSES, type LossName, type LossOptions } from './losses.js';
export { Optimizer, type ParamGroup } from './optim/optimizer.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Adam, AdamW, type AdamOptions } from './optim/adam.js';
export { RMSprop, type RMSpropOptions } from './optim/rmsprop.js';
export type { FitOptions, History, EvaluateOptions } from './fit.js';
export { earlyStopping, terminateOnNaN, reduceLROnPlateau, modelCheckpoint, type Callback, type FitContext, type EpochLogs, type BatchLogs, type EarlyStoppingOptions, type CheckpointOptions } from './train/callbacks.js';
export { METRICS, type MetricName } from './train/metrics.js';
export { gradCheck, type GradCheckOptions, type GradCheckResult, type ParameterCheck } from './gradcheck.js';
export { SimdpropError, type ErrorCode } from './errors.js';
export { Rng } from './rng.js';
export type { Matrix, Targets } from './data.js';
export { linearlySeparable, noisyPrototypes } from './datasets.js';
export { CharTokenizer, type CharTokenizerOptions, type CharTokenizerJSON } from './text/tokenizer.js';
export { StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, ReduceLROnPlateau, LRScheduler, type CosineOptions, type PlateauOptions } from './optim/schedulers.js';
export { clipGradNorm, clipGradValue, type ClipNormOptions } from './optim/clip.js';
export type { LoadOptions, SaveOptions } from './io/sequential-file.js';
export { VERSION } from './version.js';
export { saveModelFile, loadModelFile } from './io/node.js';
export { loadModel, type AnyLoadOptions } from './io/load.js';
export { Dropout, dropout } from './layers/dropout.js';
export { trainInWorker, type TrainInWorkerOptions, type TrainingJob } from './worker/train.js';
export type { LayerSpec, OptimizerSpec, WorkerFitOptions, TrainEvent } from './worker/protocol.js';
export { diagnose, doctor, type Diagnosis, type LayerHealth } from './diagnose.js';

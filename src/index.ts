// simdprop: train neural networks by backpropagation on the CPU, with WebAssembly SIMD.
export { init, getBackend, type InitOptions, type InitReport } from './init.js';
export type { Backend, BackendName } from './backend/backend.js';
export type { Kernels } from './backend/kernels.js';
export { Sequential, NamedParameter, type SequentialOptions, type TrainStepOptions } from './sequential.js';
export { Dense, dense, type DenseOptions } from './layers/dense.js';
export { ACTIVATIONS, type ActivationName } from './activations.js';
export { LOSSES, type LossName, type LossOptions } from './losses.js';
export { Optimizer } from './optim/optimizer.js';
export { SGD, type SGDOptions } from './optim/sgd.js';
export { Adam, AdamW, type AdamOptions } from './optim/adam.js';
export { RMSprop, type RMSpropOptions } from './optim/rmsprop.js';
export type { FitOptions, History } from './fit.js';
export { gradCheck, type GradCheckOptions, type GradCheckResult, type ParameterCheck } from './gradcheck.js';
export { SimdpropError, type ErrorCode } from './errors.js';
export { Rng } from './rng.js';
export type { Matrix, Targets } from './data.js';
export { linearlySeparable, noisyPrototypes } from './datasets.js';

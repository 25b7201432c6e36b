// PyTorch's BatchNorm1d/2d over the last axis (channels last: [C], [L, C], [H, W, C]): a channel's
// statistics run over the batch and every position, a column of the [rows·positions × C] matrix. In
// training mode the batch's mean and biased variance normalize and the running statistics move; in
// eval mode the running ones normalize. The forward saves the mean and rstd it used for the backward.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { BufferSpec, NodeSpec, OpCall, ParameterSpec, TensorType } from '../graph/op.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

export interface BatchNormOptions extends LayerOptions {
  /** Added to the variance (default 1e-5, as PyTorch). */
  eps?: number;
  /** How far each training batch moves the running statistics, in [0, 1] (default 0.1, as PyTorch). */
  momentum?: number;
  /** Whether the layer has a weight (init 1) and bias (init 0) per channel (default true). */
  affine?: boolean;
}

interface BatchNormNode extends NodeSpec {
  /** Positions per sample: the product of the axes before the channels. */
  readonly positions: number;
}

/** Bytes of float64 column sums the kernels use: 16 per channel forward, 28 backward. */
const SCRATCH_BYTES_PER_CHANNEL = 28;

export class BatchNorm extends Layer<BatchNormNode> {
  readonly kind = 'batchNorm';
  readonly eps: number;
  readonly momentum: number;
  readonly affine: boolean;

  constructor(readonly channels: number, options: BatchNormOptions = {}) {
    super(options);
    if (!(Number.isInteger(channels) && channels > 0 && channels < 2 ** 26)) {
      throw new SimdpropError('OPTION', `batchNorm channels must be a positive integer, got ${describe(channels)}`);
    }
    this.eps = options.eps ?? 1e-5;
    if (!(typeof this.eps === 'number' && this.eps > 0 && Number.isFinite(this.eps))) {
      throw new SimdpropError('OPTION', `batchNorm eps must be a positive finite number, got ${describe(options.eps)}`);
    }
    this.momentum = options.momentum ?? 0.1;
    if (!(typeof this.momentum === 'number' && this.momentum >= 0 && this.momentum <= 1)) {
      throw new SimdpropError('OPTION', `batchNorm momentum must be a number in [0, 1], got ${describe(options.momentum)}`);
    }
    this.affine = options.affine ?? true;
    if (typeof this.affine !== 'boolean') throw new SimdpropError('OPTION', `batchNorm affine must be true or false, got ${describe(options.affine)}`);
  }

  config(): Record<string, unknown> {
    return { channels: this.channels, eps: this.eps, momentum: this.momentum, affine: this.affine, name: this.name };
  }

  node(inputs: readonly TensorType[]): BatchNormNode {
    this.expectFloatInputs(inputs, 1);
    const { shape } = inputs[0];
    if (shape[shape.length - 1] !== this.channels) throw this.shapeError(`[..., ${this.channels}] (channels last)`, inputs[0]);
    const positions = sizeOf(shape.slice(0, -1));
    const scratch = SCRATCH_BYTES_PER_CHANNEL * this.channels;
    return {
      output: { shape, dtype: 'float32', torchOrder: inputs[0].torchOrder }, positions,
      saved: [{ name: 'mean', floatsPerSample: 0, floats: this.channels }, { name: 'rstd', floatsPerSample: 0, floats: this.channels }],
      scratchBytes: () => scratch,
      // A variance needs two values per channel: two samples when each has one position.
      minTrainingRows: positions === 1 ? 2 : 1,
    };
  }

  override parameters(): readonly ParameterSpec[] {
    if (!this.affine) return [];
    return [
      { name: 'weight', shape: [this.channels], init: { kind: 'ones' }, tags: ['weight', 'noDecay'] },
      { name: 'bias', shape: [this.channels], init: { kind: 'zeros' }, tags: ['bias', 'noDecay'] },
    ];
  }

  override buffers(): readonly BufferSpec[] {
    return [
      { name: 'running_mean', shape: [this.channels], init: { kind: 'zeros' } },
      { name: 'running_var', shape: [this.channels], init: { kind: 'ones' } },
      { name: 'num_batches_tracked', shape: [], init: { kind: 'zeros' }, dtype: 'int64' },
    ];
  }

  forward(kernels: Kernels, call: OpCall<BatchNormNode>): void {
    const weight = this.affine ? call.params[0] : 0;
    const bias = this.affine ? call.params[1] : 0;
    const rows = call.rows * call.node.positions;
    if (call.training) {
      kernels.batch_norm_forward_train(call.output, call.saved[0], call.saved[1], call.buffers[0], call.buffers[1], call.buffers[2],
        call.inputs[0], weight, bias, call.scratch, rows, this.channels, this.eps, this.momentum);
    } else {
      kernels.batch_norm_forward_eval(call.output, call.saved[0], call.saved[1], call.inputs[0], call.buffers[0], call.buffers[1],
        weight, bias, rows, this.channels, this.eps);
    }
  }

  backward(kernels: Kernels, call: OpCall<BatchNormNode>): void {
    const affine = this.affine;
    kernels.batch_norm_backward(call.inputGrads[0], affine ? call.paramGrads[0] : 0, affine ? call.paramGrads[1] : 0,
      call.outputGrad, call.inputs[0], affine ? call.params[0] : 0, call.saved[0], call.saved[1], call.scratch,
      call.rows * call.node.positions, this.channels, call.training ? 1 : 0, call.accumulateInputs[0], call.accumulateParams);
  }
}

/**
 * PyTorch's BatchNorm1d/2d over the channels (the last axis): `batchNorm(16)`,
 * `batchNorm(64, { momentum: 0.01, name: 'bn1' })`. Its tensors: weight, bias, running_mean,
 * running_var and num_batches_tracked (int64), under PyTorch's names.
 */
export function batchNorm(channels: number, options?: BatchNormOptions): BatchNorm {
  return new BatchNorm(channels, options);
}

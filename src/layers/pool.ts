// Pooling layers over channels-last samples, with PyTorch's semantics: maxPool2d, avgPool2d and
// globalAvgPool2d over [height, width, channels], maxPool1d, avgPool1d and globalAvgPool1d over
// [length, channels] (the 2-D kernels with height 1). One fused kernel per direction; max pooling
// saves each output's argmax (int32 indices in a saved tensor's 4-byte slots) for its backward.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, TensorType } from '../graph/op.js';
import { formatShape } from '../graph/symbolic.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

/** A size for both spatial axes, or `[height, width]`. */
export type PoolSize = number | readonly [number, number];

export interface Pool2dOptions extends LayerOptions {
  /** The window's step (default the kernel size, as PyTorch). */
  stride?: PoolSize;
  /** Rows and columns of padding each side (default 0), at most half the kernel size. */
  padding?: PoolSize;
}

export interface Pool1dOptions extends LayerOptions {
  /** The window's step (default the kernel size, as PyTorch). */
  stride?: number;
  /** Positions of padding each side (default 0), at most half the kernel size. */
  padding?: number;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /** Whether padding counts in each window's divisor (default true, as PyTorch's count_include_pad). */
  countIncludePad?: boolean;
}

export interface AvgPool1dOptions extends Pool1dOptions {
  /** Whether padding counts in each window's divisor (default true, as PyTorch's count_include_pad). */
  countIncludePad?: boolean;
}

/** One application's geometry: the input and output as [height × width × channels] (height 1 in 1-D). */
interface WindowNode extends NodeSpec {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly outHeight: number;
  readonly outWidth: number;
}

type Rank = 1 | 2;
const SPATIAL_AXES: Record<Rank, string> = { 1: '[length, channels]', 2: '[height, width, channels]' };

/** [height, width] of a 2-D option, or [1 or 0, value] of a 1-D one (its height is 1, unpadded). */
function spatialPair(label: string, rank: Rank, what: string, value: unknown, least: number, heightIn1d: number): [number, number] {
  const valid = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= least && (v as number) < 2 ** 16;
  const wanted = least === 0 ? 'non-negative' : 'positive';
  if (rank === 1) {
    if (!valid(value)) throw new SimdpropError('OPTION', `${label} ${what} must be a ${wanted} integer, got ${describe(value)}`);
    return [heightIn1d, value];
  }
  if (valid(value)) return [value, value];
  if (Array.isArray(value) && value.length === 2 && valid(value[0]) && valid(value[1])) return [value[0], value[1]];
  throw new SimdpropError('OPTION', `${label} ${what} must be a ${wanted} integer or [height, width] of them, got ${describe(value)}`);
}

/** What maxPool and avgPool share: the window's geometry, its checks, the output shape and config(). */
abstract class WindowPool extends Layer<WindowNode> {
  readonly kernelSize: readonly [number, number];
  readonly stride: readonly [number, number];
  readonly padding: readonly [number, number];

  constructor(readonly kind: string, private readonly rank: Rank, kernelSize: PoolSize, options: Pool2dOptions | Pool1dOptions) {
    super(options);
    this.kernelSize = spatialPair(this.label, rank, 'kernelSize', kernelSize, 1, 1);
    this.stride = spatialPair(this.label, rank, 'stride', options.stride ?? kernelSize, 1, 1);
    this.padding = spatialPair(this.label, rank, 'padding', options.padding ?? 0, 0, 0);
    if (this.padding[0] > this.kernelSize[0] / 2 || this.padding[1] > this.kernelSize[1] / 2) {
      throw new SimdpropError('OPTION', `${this.label} padding must be at most half the kernel size (as PyTorch requires), ` +
        `got padding ${this.formatted(this.padding)} for kernelSize ${this.formatted(this.kernelSize)}`);
    }
  }

  /** A geometry as the layer's options give it: a number in 1-D, [height, width] in 2-D. */
  private shown(pair: readonly [number, number]): number | [number, number] {
    return this.rank === 1 ? pair[1] : [pair[0], pair[1]];
  }

  private formatted(pair: readonly [number, number]): string {
    return this.rank === 1 ? String(pair[1]) : `[${pair[0]}, ${pair[1]}]`;
  }

  config(): Record<string, unknown> {
    return { kernelSize: this.shown(this.kernelSize), stride: this.shown(this.stride), padding: this.shown(this.padding), name: this.name };
  }

  protected geometry(inputs: readonly TensorType[]): Omit<WindowNode, 'saved'> {
    this.expectFloatInputs(inputs, 1);
    const { shape } = inputs[0];
    if (shape.length !== this.rank + 1) throw this.shapeError(SPATIAL_AXES[this.rank], inputs[0]);
    const [height, width] = this.rank === 1 ? [1, shape[0]] : [shape[0], shape[1]];
    const channels = shape[this.rank];
    const [kernelH, kernelW] = this.kernelSize;
    const [padH, padW] = this.padding;
    if (height + 2 * padH < kernelH || width + 2 * padW < kernelW) {
      throw new SimdpropError('SHAPE', `${this.label} with kernelSize ${this.formatted(this.kernelSize)} and padding ` +
        `${this.formatted(this.padding)} needs a padded input at least as large as its window, but input 0 is ${formatShape(shape)}`);
    }
    const outHeight = Math.floor((height + 2 * padH - kernelH) / this.stride[0]) + 1;
    const outWidth = Math.floor((width + 2 * padW - kernelW) / this.stride[1]) + 1;
    const outShape = this.rank === 1 ? [outWidth, channels] : [outHeight, outWidth, channels];
    return { output: { shape: outShape, dtype: 'float32', torchOrder: 'channelsFirst' }, height, width, channels, outHeight, outWidth };
  }
}

abstract class MaxPool extends WindowPool {
  node(inputs: readonly TensorType[]): WindowNode {
    const geometry = this.geometry(inputs);
    return { ...geometry, saved: [{ name: 'argmax', floatsPerSample: sizeOf(geometry.output.shape) }] };
  }

  forward(kernels: Kernels, call: OpCall<WindowNode>): void {
    const { height, width, channels, outHeight, outWidth } = call.node;
    kernels.max_pool_forward(call.output, call.saved[0], call.inputs[0], call.rows, height, width, channels, outHeight, outWidth,
      this.kernelSize[0], this.kernelSize[1], this.stride[0], this.stride[1], this.padding[0], this.padding[1]);
  }

  backward(kernels: Kernels, call: OpCall<WindowNode>): void {
    const inputGrad = call.inputGrads[0];
    if (inputGrad === 0) return;
    const { height, width, channels, outHeight, outWidth } = call.node;
    kernels.max_pool_backward(inputGrad, call.outputGrad, call.saved[0], call.rows, height * width * channels,
      outHeight * outWidth * channels, call.accumulateInputs[0]);
  }
}

abstract class AvgPool extends WindowPool {
  readonly countIncludePad: boolean;

  constructor(kind: string, rank: Rank, kernelSize: PoolSize, options: AvgPool2dOptions | AvgPool1dOptions) {
    super(kind, rank, kernelSize, options);
    this.countIncludePad = options.countIncludePad ?? true;
    if (typeof this.countIncludePad !== 'boolean') {
      throw new SimdpropError('OPTION', `${this.label} countIncludePad must be true or false, got ${describe(options.countIncludePad)}`);
    }
  }

  override config(): Record<string, unknown> {
    return { ...super.config(), countIncludePad: this.countIncludePad };
  }

  node(inputs: readonly TensorType[]): WindowNode {
    return this.geometry(inputs);
  }

  forward(kernels: Kernels, call: OpCall<WindowNode>): void {
    const { height, width, channels, outHeight, outWidth } = call.node;
    kernels.avg_pool_forward(call.output, call.inputs[0], call.rows, height, width, channels, outHeight, outWidth,
      this.kernelSize[0], this.kernelSize[1], this.stride[0], this.stride[1], this.padding[0], this.padding[1], this.countIncludePad ? 1 : 0);
  }

  backward(kernels: Kernels, call: OpCall<WindowNode>): void {
    const inputGrad = call.inputGrads[0];
    if (inputGrad === 0) return;
    const { height, width, channels, outHeight, outWidth } = call.node;
    kernels.avg_pool_backward(inputGrad, call.outputGrad, call.rows, height, width, channels, outHeight, outWidth,
      this.kernelSize[0], this.kernelSize[1], this.stride[0], this.stride[1], this.padding[0], this.padding[1],
      this.countIncludePad ? 1 : 0, call.accumulateInputs[0]);
  }
}

/** PyTorch's MaxPool2d over [height, width, channels] samples. */
export class MaxPool2d extends MaxPool {
  constructor(kernelSize: PoolSize, options: Pool2dOptions = {}) {
    super('maxPool2d', 2, kernelSize, options);
  }
}

/** PyTorch's MaxPool1d over [length, channels] samples. */
export class MaxPool1d extends MaxPool {
  constructor(kernelSize: number, options: Pool1dOptions = {}) {
    super('maxPool1d', 1, kernelSize, options);
  }
}

/** PyTorch's AvgPool2d over [height, width, channels] samples. */
export class AvgPool2d extends AvgPool {
  constructor(kernelSize: PoolSize, options: AvgPool2dOptions = {}) {
    super('avgPool2d', 2, kernelSize, options);
  }
}

/** PyTorch's AvgPool1d over [length, channels] samples. */
export class AvgPool1d extends AvgPool {
  constructor(kernelSize: number, options: AvgPool1dOptions = {}) {
    super('avgPool1d', 1, kernelSize, options);
  }
}

interface GlobalPoolNode extends NodeSpec {
  /** Positions averaged per sample: height·width, or the length. */
  readonly positions: number;
  readonly channels: number;
}

/** The mean over every position of each channel: [height, width, channels] or [length, channels] → [channels]. */
abstract class GlobalAvgPool extends Layer<GlobalPoolNode> {
  constructor(readonly kind: string, private readonly rank: Rank, options: LayerOptions) {
    super(options);
  }

  config(): Record<string, unknown> {
    return { name: this.name };
  }

  node(inputs: readonly TensorType[]): GlobalPoolNode {
    this.expectFloatInputs(inputs, 1);
    const { shape } = inputs[0];
    if (shape.length !== this.rank + 1) throw this.shapeError(SPATIAL_AXES[this.rank], inputs[0]);
    const channels = shape[this.rank];
    return { output: { shape: [channels], dtype: 'float32' }, positions: sizeOf(shape.slice(0, -1)), channels };
  }

  forward(kernels: Kernels, call: OpCall<GlobalPoolNode>): void {
    kernels.global_avg_pool_forward(call.output, call.inputs[0], call.rows, call.node.positions, call.node.channels);
  }

  backward(kernels: Kernels, call: OpCall<GlobalPoolNode>): void {
    const inputGrad = call.inputGrads[0];
    if (inputGrad === 0) return;
    kernels.global_avg_pool_backward(inputGrad, call.outputGrad, call.rows, call.node.positions, call.node.channels, call.accumulateInputs[0]);
  }
}

/** PyTorch's AdaptiveAvgPool2d(1) then flatten: [height, width, channels] → [channels]. */
export class GlobalAvgPool2d extends GlobalAvgPool {
  constructor(options: LayerOptions = {}) {
    super('globalAvgPool2d', 2, options);
  }
}

/** PyTorch's AdaptiveAvgPool1d(1) then flatten: [length, channels] → [channels]. */
export class GlobalAvgPool1d extends GlobalAvgPool {
  constructor(options: LayerOptions = {}) {
    super('globalAvgPool1d', 1, options);
  }
}

/** Max pooling over [height, width, channels]: `maxPool2d(2)`, `maxPool2d(3, { stride: 2, padding: 1 })`. */
export function maxPool2d(kernelSize: PoolSize, options?: Pool2dOptions): MaxPool2d {
  return new MaxPool2d(kernelSize, options);
}

/** Average pooling over [height, width, channels]: `avgPool2d(2)`, `avgPool2d(3, { stride: 1, padding: 1, countIncludePad: false })`. */
export function avgPool2d(kernelSize: PoolSize, options?: AvgPool2dOptions): AvgPool2d {
  return new AvgPool2d(kernelSize, options);
}

/** Each channel's mean over height and width: `globalAvgPool2d()` turns [7, 7, 512] into [512]. */
export function globalAvgPool2d(options?: LayerOptions): GlobalAvgPool2d {
  return new GlobalAvgPool2d(options);
}

/** Max pooling over [length, channels]: `maxPool1d(2)`, `maxPool1d(3, { stride: 2, padding: 1 })`. */
export function maxPool1d(kernelSize: number, options?: Pool1dOptions): MaxPool1d {
  return new MaxPool1d(kernelSize, options);
}

/** Average pooling over [length, channels]: `avgPool1d(2)`, `avgPool1d(3, { stride: 1, padding: 1 })`. */
export function avgPool1d(kernelSize: number, options?: AvgPool1dOptions): AvgPool1d {
  return new AvgPool1d(kernelSize, options);
}

/** Each channel's mean over the length: `globalAvgPool1d()` turns [T, C] into [C]. */
export function globalAvgPool1d(options?: LayerOptions): GlobalAvgPool1d {
  return new GlobalAvgPool1d(options);
}

// Convolutions over channels-last samples, PyTorch's nn.Conv2d and nn.Conv1d: [height, width,
// inChannels] → [outH, outW, outChannels] (1-D: [length, channels], run as height 1). The weight is
// stored [kernelH, kernelW, inChannels, outChannels] — the right operand of the products the kernels
// run on the GEMM micro-kernel — and is PyTorch's [out, in, kh, kw] permuted (on load and save).
// An activation after it fuses into its forward kernel, as with dense. A 1×1 convolution with stride
// 1 and no padding is a dense layer on the channel axis, and runs as one.
// With groups (PyTorch's: group g maps input channels g·in/groups … to output channels g·out/groups
// …): groups = inChannels = outChannels is a depthwise convolution, its weight [kernelH, kernelW,
// channels] (PyTorch's [C, 1, kh, kw]) on the depthwise kernels; other groups store the weight
// [groups, kernelH, kernelW, in/groups, out/groups] (PyTorch's [out, in/groups, kh, kw]), each group
// the ungrouped products over its channels, and run the activation as a kernel of its own after.
import { activationBackward, activationCode, activationForward, checkActivation, keepsPreActivation, usesHeInit, type ActivationName } from '../activations.js';
import { CONV_WEIGHT_SCRATCH_BYTES, convScratchBytes, gemmScratchBytes, type Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, ParameterSpec, TensorType } from '../graph/op.js';
import { formatShape } from '../graph/symbolic.js';
import { Activation } from './activation.js';
import { Layer, type LayerOptions } from './layer.js';

/** One number for every spatial axis, or one per axis ([h, w]). */
export type PerAxis = number | readonly number[];

export interface ConvOptions extends LayerOptions {
  /** Default 1. */
  stride?: PerAxis;
  /**
   * Zeros added on each side (default 0), or 'valid' (none), or 'same' (the output as large as the
   * input: stride 1, and an odd dilation·(kernel − 1) + 1 so that both sides get the same padding).
   */
  padding?: PerAxis | 'same' | 'valid';
  /** Spacing between kernel taps (default 1). */
  dilation?: PerAxis;
  /**
   * Channel groups (default 1): a positive integer dividing inChannels and outChannels; groups =
   * inChannels = outChannels is a depthwise convolution.
   */
  groups?: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Applied to the output, fused into the forward kernel (default 'linear'). */
  activation?: ActivationName;
  /** Slope of leakyRelu on the negative side (default 0.01, as PyTorch). */
  negativeSlope?: number;
}

/** The 13 numbers every conv kernel takes after its pointers: batch, then the per-sample geometry. */
type Geometry = readonly [number, number, number, number, number, number, number, number, number, number, number, number];

interface ConvNode extends NodeSpec {
  /** height, width, inChannels, outChannels, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW. */
  readonly geometry: Geometry;
  /** Output positions per sample (outH·outW). */
  readonly positions: number;
  /** Input positions per sample. */
  readonly inputPositions: number;
}

abstract class Convolution extends Layer<ConvNode> {
  readonly activation: ActivationName;
  /** @internal The activation's number for the conv2d_forward kernel. */
  readonly activationCode: number;
  readonly negativeSlope: number;
  readonly hasBias: boolean;
  readonly groups: number;
  /** Per spatial axis ([h, w] for 2-D, [length] for 1-D). */
  readonly kernelSize: readonly number[];
  readonly stride: readonly number[];
  readonly dilation: readonly number[];
  /** Per spatial axis, or 'same'. */
  readonly padding: readonly number[] | 'same';
  /** Zeros on each side per axis. */
  readonly paddingSizes: readonly number[];
  /**
   * A 1×1 kernel, stride 1, no padding, one group: a dense layer over the channels of each position
   * (computed once: forward and backward ask each step).
   */
  private readonly pointwise: boolean;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: PerAxis,
    protected readonly options: ConvOptions,
    axes: number,
    kindName: 'conv2d' | 'conv1d',
  ) {
    super(options);
    checkCount(inChannels, 'inChannels', kindName);
    checkCount(outChannels, 'outChannels', kindName);
    this.kernelSize = perAxis(kernelSize, axes, 'kernelSize', kindName, 1);
    this.stride = perAxis(options.stride ?? 1, axes, 'stride', kindName, 1);
    this.dilation = perAxis(options.dilation ?? 1, axes, 'dilation', kindName, 1);
    const padding = options.padding ?? 0;
    if (padding === 'same') {
      if (this.stride.some((s) => s !== 1)) throw new SimdpropError('OPTION', `${kindName} padding 'same' needs stride 1 (as PyTorch), got stride ${formatShape(this.stride)}`);
      if (this.kernelSize.some((k, i) => (this.dilation[i] * (k - 1)) % 2 !== 0)) {
        throw new SimdpropError('OPTION', `${kindName} padding 'same' pads both sides alike, so dilation·(kernelSize − 1) must be even; ` +
          `kernel ${formatShape(this.kernelSize)} with dilation ${formatShape(this.dilation)} would need one side padded more: give the padding as numbers`);
      }
      this.padding = 'same';
    } else {
      this.padding = padding === 'valid' ? this.kernelSize.map(() => 0) : perAxis(padding, axes, 'padding', kindName, 0);
    }
    this.paddingSizes = this.padding === 'same' ? this.kernelSize.map((k, i) => (this.dilation[i] * (k - 1)) / 2) : this.padding;
    this.groups = options.groups ?? 1;
    if (!(typeof this.groups === 'number' && Number.isInteger(this.groups) && this.groups > 0 && inChannels % this.groups === 0 &&
      outChannels % this.groups === 0)) {
      throw new SimdpropError('OPTION', `${kindName} groups must be a positive integer dividing both inChannels ${inChannels} and ` +
        `outChannels ${outChannels}, got ${describe(options.groups)}`);
    }
    this.pointwise = this.groups === 1 && this.kernelSize.every((k) => k === 1) && this.stride.every((s) => s === 1) && this.paddingSizes.every((p) => p === 0);
    this.activation = checkActivation(options.activation ?? 'linear');
    this.activationCode = activationCode(this.activation);
    this.negativeSlope = options.negativeSlope ?? 0.01;
    if (!Number.isFinite(this.negativeSlope) || this.negativeSlope < 0) {
      throw new SimdpropError('OPTION', `negativeSlope must be a finite number ≥ 0, got ${describe(options.negativeSlope)}`);
    }
    this.hasBias = options.bias ?? true;
  }

  /** The input's spatial sizes, from its shape ([height, width] or [length]), or a SHAPE error. */
  protected abstract spatialOf(input: TensorType): readonly number[];

  /** Height-and-width numbers for the kernels (1-D runs as height 1). */
  protected abstract asPlane(values: readonly number[], one: number): [number, number];

  /** The output's per-sample shape for output sizes `sizes`. */
  protected abstract outputShape(sizes: readonly number[]): readonly number[];

  config(): Record<string, unknown> {
    return {
      inChannels: this.inChannels, outChannels: this.outChannels, kernelSize: [...this.kernelSize], stride: [...this.stride],
      padding: this.padding === 'same' ? 'same' : [...this.padding], dilation: [...this.dilation], groups: this.groups,
      bias: this.hasBias, activation: this.activation, negativeSlope: this.negativeSlope, name: this.name,
    };
  }


  node(inputs: readonly TensorType[]): ConvNode {
    this.expectFloatInputs(inputs, 1);
    const input = inputs[0];
    const spatial = this.spatialOf(input);
    const channels = input.shape[input.shape.length - 1];
    if (channels !== this.inChannels) throw this.shapeError(this.expectedShape(), input);
    const pad = this.paddingSizes;
    const sizes = spatial.map((size, i) => {
      const span = this.dilation[i] * (this.kernelSize[i] - 1) + 1;
      if (span > size + 2 * pad[i]) {
        throw new SimdpropError('SHAPE', `${this.label}: its kernel spans ${span} (kernelSize ${this.kernelSize[i]}, dilation ${this.dilation[i]}), ` +
          `more than the padded input's ${size + 2 * pad[i]} (input ${formatShape(input.shape)}, padding ${pad[i]})`);
      }
      return Math.floor((size + 2 * pad[i] - span) / this.stride[i]) + 1;
    });
    const [height, width] = this.asPlane(spatial, 1);
    const [kernelH, kernelW] = this.asPlane(this.kernelSize, 1);
    const [strideH, strideW] = this.asPlane(this.stride, 1);
    const [padH, padW] = this.asPlane(pad, 0);
    const [dilationH, dilationW] = this.asPlane(this.dilation, 1);
    const geometry: Geometry = [height, width, this.inChannels, this.outChannels, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW];
    const positions = sizes.reduce((p, d) => p * d, 1);
    const inputPositions = height * width;
    const { inChannels, outChannels, groups } = this;
    // The inner dimensions of one group's forward and input-gradient products.
    const K = kernelH * kernelW * (inChannels / groups);
    const gradK = kernelH * kernelW * (outChannels / groups);
    let scratchBytes: ConvNode['scratchBytes'];
    if (this.pointwise) {
      scratchBytes = (rows) => Math.max(gemmScratchBytes(Math.max(inChannels, outChannels)), gemmScratchBytes(rows * positions, inChannels));
    } else if (!this.depthwise) {
      scratchBytes = () => Math.max(convScratchBytes(K), convScratchBytes(gradK), CONV_WEIGHT_SCRATCH_BYTES);
    }
    return {
      output: { shape: this.outputShape(sizes), dtype: 'float32', torchOrder: 'channelsFirst' },
      geometry, positions, inputPositions,
      saved: keepsPreActivation(this.activation) ? [{ name: 'z', floatsPerSample: positions * this.outChannels }] : [],
      scratchBytes,
      macsPerSample: positions * K * this.outChannels,
    };
  }

  /** One group per channel, in and out: each channel convolved with its own kernel. */
  get depthwise(): boolean {
    return this.groups === this.inChannels && this.groups === this.outChannels && this.groups > 1;
  }

  private expectedShape(): string {
    return this.kernelSize.length === 2 ? `[height, width, ${this.inChannels}]` : `[length, ${this.inChannels}]`;
  }

  override parameters(): readonly ParameterSpec[] {
    const taps = this.kernelSize.reduce((p, k) => p * k, 1);
    // PyTorch's fans of its [out, in/groups, …kernel] weight.
    const fanIn = (this.inChannels / this.groups) * taps;
    const fanOut = this.outChannels * taps;
    let init: ParameterSpec['init'];
    if (usesHeInit(this.activation)) {
      const slope = this.activation === 'leakyRelu' ? this.negativeSlope : 0;
      init = { kind: 'normal', std: Math.sqrt(2 / ((1 + slope * slope) * fanIn)) };
    } else {
      init = { kind: 'uniform', limit: Math.sqrt(6 / (fanIn + fanOut)) };
    }
    const weight: ParameterSpec = { name: 'weight', ...this.weightLayout(), init, tags: ['weight', 'decay'] };
    if (!this.hasBias) return [weight];
    return [weight, { name: 'bias', shape: [this.outChannels], init: { kind: 'zeros' }, tags: ['bias', 'noDecay'] }];
  }

  /**
   * The weight's shape in simdprop and PyTorch's layout of it, for k = the kernel's axes (a of them):
   * [...k, in, out] is PyTorch's [out, in, ...k]; a depthwise [...k, C] its [C, 1, ...k]; a grouped
   * [groups, ...k, in/groups, out/groups] its [out, in/groups, ...k], seen as [groups, out/groups,
   * in/groups, ...k].
   */
  private weightLayout(): Pick<ParameterSpec, 'shape' | 'torch'> {
    const { inChannels, outChannels, groups, kernelSize } = this;
    const a = kernelSize.length;
    const kernelAxes = kernelSize.map((_, i) => i);
    if (groups === 1) {
      return { shape: [...kernelSize, inChannels, outChannels], torch: { shape: [outChannels, inChannels, ...kernelSize], order: [a + 1, a, ...kernelAxes] } };
    }
    if (this.depthwise) return { shape: [...kernelSize, inChannels], torch: { shape: [inChannels, 1, ...kernelSize], order: [a, ...kernelAxes] } };
    const [groupIn, groupOut] = [inChannels / groups, outChannels / groups];
    return {
      shape: [groups, ...kernelSize, groupIn, groupOut],
      torch: { shape: [outChannels, groupIn, ...kernelSize], order: [0, a + 2, a + 1, ...kernelAxes.map((i) => i + 1)] },
    };
  }

  forward(kernels: Kernels, call: OpCall<ConvNode>): void {
    const { node } = call;
    const z = call.saved.length > 0 ? call.saved[0] : call.output;
    const bias = this.hasBias ? call.params[1] : 0;
    if (this.pointwise) {
      kernels.dense_forward(z, call.output, call.inputs[0], call.params[0], bias, call.rows * node.positions, this.inChannels, this.outChannels,
        this.activationCode, this.negativeSlope, call.scratch);
      return;
    }
    const g = node.geometry;
    if (this.depthwise) {
      kernels.depthwise_conv2d_forward(z, call.output, call.inputs[0], call.params[0], bias, call.rows,
        g[0], g[1], g[2], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], this.activationCode, this.negativeSlope);
    } else if (this.groups === 1) {
      kernels.conv2d_forward(z, call.output, call.inputs[0], call.params[0], bias, call.rows,
        g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], this.activationCode, this.negativeSlope, call.scratch);
    } else {
      kernels.conv2d_grouped_forward(z, call.inputs[0], call.params[0], bias, call.rows,
        g[0], g[1], g[2], g[3], this.groups, g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], call.scratch);
      activationForward(kernels, this.activation, call.output, z, call.rows * node.positions, this.outChannels, this.negativeSlope);
    }
  }

  // dz = dL/da ⊙ f'(z) into the working gradient, then dW, db and dX from it (as dense's backward).
  backward(kernels: Kernels, call: OpCall<ConvNode>): void {
    const { node } = call;
    const positions = call.rows * node.positions;
    const linear = this.activation === 'linear';
    const dz = linear ? call.outputGrad : call.workGrad;
    if (!call.again && !linear) {
      const z = call.saved.length > 0 ? call.saved[0] : call.output;
      activationBackward(kernels, this.activation, dz, call.outputGrad, z, call.output, positions, this.outChannels, this.negativeSlope);
    }
    const g = node.geometry;
    const weightGrad = call.paramGrads[0];
    if (weightGrad !== 0 && this.depthwise) {
      // The bias gradient comes in the same pass.
      kernels.depthwise_conv2d_weight_grad(weightGrad, this.hasBias ? call.paramGrads[1] : 0, call.inputs[0], dz, call.rows,
        g[0], g[1], g[2], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], 0, g[2], call.accumulateParams);
    } else if (weightGrad !== 0) {
      if (this.pointwise) {
        kernels.gemm_tn(weightGrad, call.inputs[0], dz, this.inChannels, positions, this.outChannels, this.inChannels, call.accumulateParams, call.scratch);
      } else {
        kernels.conv2d_weight_grad(weightGrad, call.inputs[0], dz, call.rows, g[0], g[1], g[2], g[3], this.groups, g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11],
          0, g[4] * g[5] * g[2], call.accumulateParams, call.scratch);
      }
      if (this.hasBias) kernels.bias_grad(call.paramGrads[1], dz, positions, this.outChannels, call.accumulateParams);
    }
    const inputGrad = call.inputGrads[0];
    if (inputGrad === 0) return;
    if (this.pointwise) {
      kernels.gemm_nt(inputGrad, dz, call.params[0], positions, this.outChannels, this.inChannels, call.accumulateInputs[0], call.scratch);
    } else if (this.depthwise) {
      kernels.depthwise_conv2d_input_grad(inputGrad, dz, call.params[0], call.rows, g[0], g[1], g[2], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11],
        call.accumulateInputs[0]);
    } else {
      kernels.conv2d_input_grad(inputGrad, dz, call.params[0], call.rows, g[0], g[1], g[2], g[3], this.groups, g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11],
        call.accumulateInputs[0], call.scratch);
    }
  }

  /** A linear convolution and an activation after it run as one convolution with that activation. */
  fuseWith(next: unknown): Convolution | undefined {
    if (this.activation !== 'linear' || !(next instanceof Activation) || next.activation === 'linear') return undefined;
    return this.withActivation(next.activation, next.negativeSlope);
  }

  protected abstract withActivation(activation: ActivationName, negativeSlope: number): Convolution;
}

export class Conv2d extends Convolution {
  readonly kind = 'conv2d';

  constructor(inChannels: number, outChannels: number, kernelSize: PerAxis, options: ConvOptions = {}) {
    super(inChannels, outChannels, kernelSize, options, 2, 'conv2d');
  }

  protected spatialOf(input: TensorType): readonly number[] {
    if (input.shape.length !== 3) throw this.shapeError(`[height, width, ${this.inChannels}] (channels last)`, input);
    return input.shape.slice(0, 2);
  }

  protected asPlane(values: readonly number[]): [number, number] {
    return [values[0], values[1]];
  }

  protected outputShape(sizes: readonly number[]): readonly number[] {
    return [sizes[0], sizes[1], this.outChannels];
  }

  protected withActivation(activation: ActivationName, negativeSlope: number): Conv2d {
    return new Conv2d(this.inChannels, this.outChannels, this.kernelSize, { ...this.options, name: undefined, activation, negativeSlope });
  }
}

export class Conv1d extends Convolution {
  readonly kind = 'conv1d';

  constructor(inChannels: number, outChannels: number, kernelSize: PerAxis, options: ConvOptions = {}) {
    super(inChannels, outChannels, kernelSize, options, 1, 'conv1d');
  }

  protected spatialOf(input: TensorType): readonly number[] {
    if (input.shape.length !== 2) throw this.shapeError(`[length, ${this.inChannels}] (channels last)`, input);
    return input.shape.slice(0, 1);
  }

  protected asPlane(values: readonly number[], one: number): [number, number] {
    return [one, values[0]];
  }

  protected outputShape(sizes: readonly number[]): readonly number[] {
    return [sizes[0], this.outChannels];
  }

  protected withActivation(activation: ActivationName, negativeSlope: number): Conv1d {
    return new Conv1d(this.inChannels, this.outChannels, this.kernelSize, { ...this.options, name: undefined, activation, negativeSlope });
  }
}

function checkCount(value: unknown, what: string, kind: string): void {
  if (!(typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 2 ** 16)) {
    throw new SimdpropError('OPTION', `${kind} ${what} must be a positive integer below 65536, got ${describe(value)}`);
  }
}

/** A per-axis option as one number per axis: integers ≥ `least`. */
function perAxis(value: PerAxis, axes: number, what: string, kind: string, least: number): readonly number[] {
  const values = typeof value === 'number' ? new Array<number>(axes).fill(value) : Array.isArray(value) ? [...value] : [];
  if (values.length !== axes || !values.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= least && v < 2 ** 16)) {
    const form = axes === 2 ? 'a number or [h, w]' : 'a number';
    throw new SimdpropError('OPTION', `${kind} ${what} must be ${form} of integers ≥ ${least}, got ${describe(value)}`);
  }
  return Object.freeze(values);
}

/** A 2-D convolution over [height, width, channels] samples: `conv2d(1, 6, 5, { padding: 2, activation: 'relu' })`. */
export function conv2d(inChannels: number, outChannels: number, kernelSize: PerAxis, options?: ConvOptions): Conv2d {
  return new Conv2d(inChannels, outChannels, kernelSize, options);
}

/** A 1-D convolution over [length, channels] samples: `conv1d(16, 32, 3, { padding: 'same' })`. */
export function conv1d(inChannels: number, outChannels: number, kernelSize: PerAxis, options?: ConvOptions): Conv1d {
  return new Conv1d(inChannels, outChannels, kernelSize, options);
}

// PyTorch's LayerNorm over the last axis: y = (x − mean)/√(var + eps)·weight + bias per position, with
// the biased variance. One fused kernel per direction; the mean and 1/√(var + eps) of each position
// are saved for the backward.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, ParameterSpec, TensorType } from '../graph/op.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

export interface LayerNormOptions extends LayerOptions {
  /** Added to the variance (default 1e-5, as PyTorch). */
  eps?: number;
  /** Whether the layer has a weight (init 1) and bias (init 0) per feature (default true). */
  elementwiseAffine?: boolean;
  /** With elementwiseAffine, whether there is a bias (default true; false is PyTorch's LayerNorm(bias=False), nanoGPT's bias=False). */
  bias?: boolean;
}

interface LayerNormNode extends NodeSpec {
  /** Positions per sample: the product of the axes before the last. */
  readonly positions: number;
}

export class LayerNorm extends Layer<LayerNormNode> {
  readonly kind = 'layerNorm';
  readonly eps: number;
  readonly elementwiseAffine: boolean;
  readonly hasBias: boolean;

  constructor(readonly size: number, options: LayerNormOptions = {}) {
    super(options);
    if (!(Number.isInteger(size) && size > 0 && size < 2 ** 26)) throw new SimdpropError('OPTION', `layerNorm size must be a positive integer, got ${describe(size)}`);
    this.eps = options.eps ?? 1e-5;
    if (!(typeof this.eps === 'number' && this.eps > 0 && Number.isFinite(this.eps))) {
      throw new SimdpropError('OPTION', `layerNorm eps must be a positive finite number, got ${describe(options.eps)}`);
    }
    this.elementwiseAffine = options.elementwiseAffine ?? true;
    this.hasBias = this.elementwiseAffine && (options.bias ?? true);
  }

  config(): Record<string, unknown> {
    return { size: this.size, eps: this.eps, elementwiseAffine: this.elementwiseAffine, bias: this.hasBias, name: this.name };
  }

  node(inputs: readonly TensorType[]): LayerNormNode {
    this.expectFloatInputs(inputs, 1);
    const { shape } = inputs[0];
    if (shape[shape.length - 1] !== this.size) throw this.shapeError(`[..., ${this.size}]`, inputs[0]);
    const positions = sizeOf(shape.slice(0, -1));
    return {
      output: { shape, dtype: 'float32' }, positions,
      saved: [{ name: 'mean', floatsPerSample: positions }, { name: 'rstd', floatsPerSample: positions }],
    };
  }

  override parameters(): readonly ParameterSpec[] {
    if (!this.elementwiseAffine) return [];
    const weight: ParameterSpec = { name: 'weight', shape: [this.size], init: { kind: 'ones' }, tags: ['weight', 'noDecay'] };
    if (!this.hasBias) return [weight];
    return [weight, { name: 'bias', shape: [this.size], init: { kind: 'zeros' }, tags: ['bias', 'noDecay'] }];
  }

  forward(kernels: Kernels, call: OpCall<LayerNormNode>): void {
    const weight = this.elementwiseAffine ? call.params[0] : 0;
    const bias = this.hasBias ? call.params[1] : 0;
    kernels.layer_norm_forward(call.output, call.saved[0], call.saved[1], call.inputs[0], weight, bias,
      call.rows * call.node.positions, this.size, this.eps);
  }

  backward(kernels: Kernels, call: OpCall<LayerNormNode>): void {
    const affine = this.elementwiseAffine;
    kernels.layer_norm_backward(call.inputGrads[0], affine ? call.paramGrads[0] : 0, this.hasBias ? call.paramGrads[1] : 0,
      call.outputGrad, call.inputs[0], affine ? call.params[0] : 0, call.saved[0], call.saved[1],
      call.rows * call.node.positions, this.size, call.accumulateInputs[0], call.accumulateParams);
  }
}

/** PyTorch's LayerNorm over the last axis: `layerNorm(64)`, `layerNorm(64, { eps: 1e-6, name: 'ln_1' })`. */
export function layerNorm(size: number, options?: LayerNormOptions): LayerNorm {
  return new LayerNorm(size, options);
}

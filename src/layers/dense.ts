// A fully connected layer on the last axis, like PyTorch's nn.Linear on [..., in]: z = x·W + b,
// a = f(z), with W stored [inputSize × outputSize] row-major so the forward product broadcasts one
// input element against contiguous rows of W (PyTorch keeps [out, in]: transposed on load and save).
// Leading axes are rows of the products: [T, C] inputs of a batch of B are B·T rows.
import { activationBackward, activationCode, activationForward, checkActivation, keepsPreActivation, usesHeInit, type ActivationName } from '../activations.js';
import { gemmScratchBytes, type Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, ParameterSpec, TensorType } from '../graph/op.js';
import { Activation } from './activation.js';
import { Embedding } from './embedding.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

export interface DenseOptions extends LayerOptions {
  /** Slope of leakyRelu on the negative side (default 0.01, as PyTorch). */
  negativeSlope?: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /**
   * Weight tying: the layer uses that layer's weight, one tensor for both, whose gradient sums both
   * uses (nanoGPT's `lm_head.weight = transformer.wte.weight`). An embedding's [count × dim] table
   * serves a dense layer from dim inputs to count outputs, read as PyTorch's [out, in]; a dense layer's
   * weight serves one of the same sizes. Saved once, under the owner's name.
   */
  tiedTo?: Dense | Embedding;
}

interface DenseNode extends NodeSpec {
  /** Rows of the products per sample: the product of the input's leading axes. */
  readonly rowsPerSample: number;
}

export class Dense extends Layer<DenseNode> {
  readonly kind = 'dense';
  readonly activation: ActivationName;
  /** @internal The activation's number for the dense_forward kernel. */
  readonly activationCode: number;
  readonly negativeSlope: number;
  readonly hasBias: boolean;
  readonly tiedTo: Dense | Embedding | undefined;
  /** Whether the weight is kept [out, in] (tied to an embedding's table) rather than [in, out]. */
  readonly outIn: boolean;

  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
    activation: ActivationName = 'linear',
    options: DenseOptions = {},
  ) {
    super(options);
    checkSize(inputSize, 'inputSize');
    checkSize(outputSize, 'outputSize');
    this.activation = checkActivation(activation);
    this.activationCode = activationCode(this.activation);
    this.negativeSlope = options.negativeSlope ?? 0.01;
    if (!Number.isFinite(this.negativeSlope) || this.negativeSlope < 0) {
      throw new SimdpropError('OPTION', `negativeSlope must be a finite number ≥ 0, got ${describe(options.negativeSlope)}`);
    }
    this.hasBias = options.bias ?? true;
    const tied = options.tiedTo;
    if (tied !== undefined) {
      if (tied instanceof Embedding) {
        if (tied.count !== outputSize || tied.dim !== inputSize) {
          throw new SimdpropError('SHAPE', `dense(${inputSize}, ${outputSize}) cannot tie its weight to ${tied.label}'s table [${tied.count}, ${tied.dim}]: ` +
            `a head tied to an embedding maps dim ${tied.dim} inputs to count ${tied.count} outputs`);
        }
      } else if (tied instanceof Dense) {
        if (tied.inputSize !== inputSize || tied.outputSize !== outputSize) {
          throw new SimdpropError('SHAPE', `dense(${inputSize}, ${outputSize}) cannot tie its weight to ${tied.label}, which is dense(${tied.inputSize}, ${tied.outputSize})`);
        }
      } else {
        throw new SimdpropError('OPTION', `a dense layer ties its weight to an embedding or another dense layer, got ${describe(tied)}`);
      }
    }
    this.tiedTo = tied;
    this.outIn = tied instanceof Embedding || (tied instanceof Dense && tied.outIn);
  }

  get weightCount(): number {
    return this.inputSize * this.outputSize;
  }

  config(): Record<string, unknown> {
    return {
      inputSize: this.inputSize, outputSize: this.outputSize, activation: this.activation,
      bias: this.hasBias, negativeSlope: this.negativeSlope, name: this.name,
      ...(this.tiedTo === undefined ? {} : { tiedTo: this.tiedTo }),
    };
  }

  node(inputs: readonly TensorType[]): DenseNode {
    this.expectFloatInputs(inputs, 1);
    const { shape } = inputs[0];
    if (shape[shape.length - 1] !== this.inputSize) throw this.shapeError(`[..., ${this.inputSize}]`, inputs[0]);
    const rowsPerSample = sizeOf(shape.slice(0, -1));
    const { inputSize, outputSize } = this;
    return {
      output: { shape: [...shape.slice(0, -1), outputSize], dtype: 'float32' },
      rowsPerSample,
      // With leakyRelu and gelu the backward reads z, so it is kept apart from the output a.
      saved: keepsPreActivation(this.activation) ? [{ name: 'z', floatsPerSample: rowsPerSample * outputSize }] : [],
      // X·W and dZ·Wᵀ pack up to 128 rows of their inner dimension (in or out); Xᵀ·dZ's is the batch's rows.
      // Kept [out, in], the input gradient dZ·W cannot add to what is there: it is made past the GEMM's scratch, then added.
      scratchBytes: (rows) => this.gemmBytes(rows * rowsPerSample) + (this.outIn ? rows * rowsPerSample * inputSize * 4 : 0),
      macsPerSample: rowsPerSample * inputSize * outputSize,
    };
  }

  override parameters(inputs: readonly TensorType[]): readonly ParameterSpec[] {
    const { inputSize, outputSize } = this;
    let init: ParameterSpec['init'];
    if (usesHeInit(this.activation)) {
      // He normal: std = √(2/((1 + slope²)·in)).
      const slope = this.activation === 'leakyRelu' ? this.negativeSlope : 0;
      init = { kind: 'normal', std: Math.sqrt(2 / ((1 + slope * slope) * inputSize)) };
    } else {
      // Glorot uniform: ±√(6/(in + out)).
      init = { kind: 'uniform', limit: Math.sqrt(6 / (inputSize + outputSize)) };
    }
    const weight: ParameterSpec = this.tiedTo === undefined
      ? { name: 'weight', shape: [inputSize, outputSize], init, tags: ['weight', 'decay'], torch: torchWeight(inputs[0], inputSize, outputSize) }
      : { name: 'weight', shape: this.outIn ? [outputSize, inputSize] : [inputSize, outputSize], init, tags: ['weight', 'decay'], tiedTo: { layer: this.tiedTo, name: 'weight' } };
    if (!this.hasBias) return [weight];
    return [weight, { name: 'bias', shape: [outputSize], init: { kind: 'zeros' }, tags: ['bias', 'noDecay'] }];
  }

  forward(kernels: Kernels, call: OpCall<DenseNode>): void {
    const M = call.rows * call.node.rowsPerSample;
    // z is the output itself unless the backward needs it apart (then it is saved).
    const z = call.saved.length > 0 ? call.saved[0] : call.output;
    if (this.outIn) {
      // z = x·Wᵀ (+ bias, laid down first), then the activation in a pass of its own.
      const bias = this.hasBias ? call.params[1] : 0;
      if (bias !== 0) kernels.copy_rows(z, this.outputSize, bias, 0, M, this.outputSize, 0);
      kernels.gemm_nt(z, call.inputs[0], call.params[0], M, this.inputSize, this.outputSize, bias !== 0 ? 1 : 0, call.scratch);
      activationForward(kernels, this.activation, call.output, z, M, this.outputSize, this.negativeSlope);
      return;
    }
    kernels.dense_forward(z, call.output, call.inputs[0], call.params[0], this.hasBias ? call.params[1] : 0,
      M, this.inputSize, this.outputSize, this.activationCode, this.negativeSlope, call.scratch);
  }

  // dz = dL/da ⊙ f'(z) goes to the working gradient (in place over dL/da unless that must stay), then
  // dW, db and dX come from it. With a linear activation dz is dL/da itself.
  backward(kernels: Kernels, call: OpCall<DenseNode>): void {
    const M = call.rows * call.node.rowsPerSample;
    const linear = this.activation === 'linear';
    const dz = linear ? call.outputGrad : call.workGrad;
    if (!call.again && !linear) {
      const z = call.saved.length > 0 ? call.saved[0] : call.output;
      activationBackward(kernels, this.activation, dz, call.outputGrad, z, call.output, M, this.outputSize, this.negativeSlope);
    }
    const weightGrad = call.paramGrads[0];
    const { inputSize, outputSize } = this;
    if (weightGrad !== 0) {
      if (this.outIn) kernels.gemm_tn(weightGrad, dz, call.inputs[0], outputSize, M, inputSize, outputSize, call.accumulateParams, call.scratch);
      else kernels.gemm_tn(weightGrad, call.inputs[0], dz, inputSize, M, outputSize, inputSize, call.accumulateParams, call.scratch);
      if (this.hasBias) kernels.bias_grad(call.paramGrads[1], dz, M, outputSize, call.accumulateParams);
    }
    const inputGrad = call.inputGrads[0];
    if (inputGrad === 0) return;
    if (!this.outIn) {
      kernels.gemm_nt(inputGrad, dz, call.params[0], M, outputSize, inputSize, call.accumulateInputs[0], call.scratch);
    } else if (call.accumulateInputs[0] === 0) {
      kernels.gemm_nn(inputGrad, dz, call.params[0], 0, M, outputSize, inputSize, call.scratch);
    } else {
      const product = call.scratch + this.gemmBytes(M);
      kernels.gemm_nn(product, dz, call.params[0], 0, M, outputSize, inputSize, call.scratch);
      kernels.axpy(inputGrad, product, M * inputSize, 1);
    }
  }

  /** Scratch bytes the layer's GEMMs take for M rows of products. */
  private gemmBytes(M: number): number {
    return Math.max(gemmScratchBytes(Math.max(this.inputSize, this.outputSize)), gemmScratchBytes(M, this.inputSize));
  }

  /**
   * A linear dense layer and an activation after it run as one dense layer with that activation (one
   * kernel per direction, the activation on sums still in cache); it uses this layer's parameters.
   */
  fuseWith(next: unknown): Dense | undefined {
    if (this.activation !== 'linear' || !(next instanceof Activation) || next.activation === 'linear') return undefined;
    return new Dense(this.inputSize, this.outputSize, next.activation, { bias: this.hasBias, negativeSlope: next.negativeSlope, tiedTo: this.tiedTo });
  }
}

/**
 * PyTorch keeps the weight [out, in]; after a flatten of a feature map [..., C] it reads the inputs
 * channels first, so its [out, C·…] weight is simdprop's [..., C, out] with the axes turned around.
 */
function torchWeight(input: TensorType | undefined, inputSize: number, outputSize: number): ParameterSpec['torch'] {
  const order = input?.torchOrder;
  if (order === undefined || order === 'channelsFirst') return { shape: [outputSize, inputSize], order: [1, 0] };
  const from = order.flattenedFrom;
  const channels = from.length - 1;
  return { shape: [outputSize, inputSize], view: [...from, outputSize], order: [from.length, channels, ...from.slice(0, -1).map((_, i) => i)] };
}

function checkSize(value: unknown, what: string): void {
  if (!(typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 2 ** 26)) {
    throw new SimdpropError('OPTION', `dense ${what} must be a positive integer, got ${describe(value)}`);
  }
}

/** A dense layer: `dense(784, 128, 'relu')`, `dense(16, 32, 'relu', { name: 'blocks.0.fc' })`. */
export function dense(inputSize: number, outputSize: number, activation: ActivationName = 'linear', options?: DenseOptions): Dense {
  return new Dense(inputSize, outputSize, activation, options);
}

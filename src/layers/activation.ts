// An activation on its own: a = f(x), elementwise (softmax: over the last axis). After a linear dense
// layer whose output nothing else reads, the plan fuses it into that layer's forward kernel.
import { activationBackward, activationForward, checkActivation, type ActivationName } from '../activations.js';
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, TensorType } from '../graph/op.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

export interface ActivationOptions extends LayerOptions {
  /** Slope of leakyRelu on the negative side (default 0.01, as PyTorch). */
  negativeSlope?: number;
}

interface ActivationNode extends NodeSpec {
  readonly size: number;
  /** The last axis (softmax's rows). */
  readonly cols: number;
}

export class Activation extends Layer<ActivationNode> {
  readonly kind = 'activation';
  readonly activation: ActivationName;
  readonly negativeSlope: number;

  constructor(activation: ActivationName, options: ActivationOptions = {}) {
    super(options);
    this.activation = checkActivation(activation);
    this.negativeSlope = options.negativeSlope ?? 0.01;
    if (!Number.isFinite(this.negativeSlope) || this.negativeSlope < 0) {
      throw new SimdpropError('OPTION', `negativeSlope must be a finite number ≥ 0, got ${describe(options.negativeSlope)}`);
    }
  }

  config(): Record<string, unknown> {
    return { activation: this.activation, negativeSlope: this.negativeSlope, name: this.name };
  }

  node(inputs: readonly TensorType[]): ActivationNode {
    this.expectFloatInputs(inputs, 1);
    const { shape } = inputs[0];
    const size = sizeOf(shape);
    // The input's gradient when others add to it too: made here, then added.
    return { output: { shape, dtype: 'float32', torchOrder: inputs[0].torchOrder }, size, cols: shape[shape.length - 1], saved: [{ name: 'inputGrad', floatsPerSample: size }] };
  }

  forward(kernels: Kernels, call: OpCall<ActivationNode>): void {
    const n = call.rows * call.node.size;
    if (this.activation === 'linear') kernels.copy(call.output, call.inputs[0], n);
    else activationForward(kernels, this.activation, call.output, call.inputs[0], n / call.node.cols, call.node.cols, this.negativeSlope);
  }

  backward(kernels: Kernels, call: OpCall<ActivationNode>): void {
    const inputGrad = call.inputGrads[0];
    if (inputGrad === 0) return;
    const n = call.rows * call.node.size;
    const accumulate = call.accumulateInputs[0] !== 0;
    const target = accumulate ? call.saved[0] : inputGrad;
    if (this.activation === 'linear') kernels.copy(target, call.outputGrad, n);
    else activationBackward(kernels, this.activation, target, call.outputGrad, call.inputs[0], call.output, n / call.node.cols, call.node.cols, this.negativeSlope);
    if (accumulate) kernels.axpy(inputGrad, target, n, 1);
  }
}

/** An activation layer: `activation('relu').apply(x)`. */
export function activation(name: ActivationName, options?: ActivationOptions): Activation {
  return new Activation(name, options);
}

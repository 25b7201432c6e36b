// Dropout: in training, each value is zeroed with probability `rate` and the rest scaled by
// 1/(1 − rate) (inverted dropout), by a mask from a counter-based hash of the model's seed and a
// stream it bumps per draw, so masks are the same bits on every backend and thread count. In eval
// mode values pass through.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, TensorType } from '../graph/op.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

interface DropoutNode extends NodeSpec {
  readonly size: number;
}

export class Dropout extends Layer<DropoutNode> {
  readonly kind = 'dropout';

  constructor(readonly rate: number, options?: LayerOptions) {
    super(options);
    if (!(typeof rate === 'number' && rate >= 0 && rate < 1)) {
      throw new SimdpropError('OPTION', `dropout rate must be a number in [0, 1), got ${describe(rate)}`);
    }
  }

  config(): Record<string, unknown> {
    return { rate: this.rate, name: this.name };
  }

  node(inputs: readonly TensorType[]): DropoutNode {
    this.expectFloatInputs(inputs, 1);
    const size = sizeOf(inputs[0].shape);
    return { output: { shape: inputs[0].shape, dtype: 'float32', torchOrder: inputs[0].torchOrder }, size, saved: [{ name: 'mask', floatsPerSample: size }] };
  }

  forward(kernels: Kernels, call: OpCall<DropoutNode>): void {
    const n = call.rows * call.node.size;
    if (!call.training) {
      kernels.copy(call.output, call.inputs[0], n);
      return;
    }
    const mask = call.saved[0];
    if (!call.random.reuse) kernels.dropout_mask(mask, n, this.rate, call.random.seed, call.random.stream++);
    kernels.mul(call.output, call.inputs[0], mask, n);
  }

  backward(kernels: Kernels, call: OpCall<DropoutNode>): void {
    const inputGrad = call.inputGrads[0];
    if (inputGrad === 0) return;
    const n = call.rows * call.node.size;
    const accumulate = call.accumulateInputs[0] !== 0;
    if (call.training) {
      if (accumulate) kernels.mul_add(inputGrad, call.outputGrad, call.saved[0], n);
      else kernels.mul(inputGrad, call.outputGrad, call.saved[0], n);
    } else if (accumulate) {
      kernels.axpy(inputGrad, call.outputGrad, n, 1);
    } else {
      kernels.copy(inputGrad, call.outputGrad, n);
    }
  }
}

/** Dropout of the previous layer's outputs: `new Sequential([dense(784, 256, 'relu'), dropout(0.5), dense(256, 10)])`. */
export function dropout(rate: number, options?: LayerOptions): Dropout {
  return new Dropout(rate, options);
}

// Learned absolute positions: a [length × dim] table whose first T rows are added to every sample of a
// [T, dim] input (T ≤ length), as GPT-2 and nanoGPT add `wpe(arange(T))` to the token embeddings. The
// table is PyTorch's nn.Embedding weight (N(0, 1) init), saved under `<name>.weight`.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, ParameterSpec, TensorType } from '../graph/op.js';
import { Layer, type LayerOptions } from './layer.js';

interface PositionNode extends NodeSpec {
  /** Floats per sample: positions × dim. */
  readonly size: number;
}

export class PositionEmbedding extends Layer<PositionNode> {
  readonly kind = 'positionEmbedding';

  constructor(readonly length: number, readonly dim: number, options?: LayerOptions) {
    super(options);
    for (const [what, value] of [['length', length], ['dim', dim]] as const) {
      if (!(Number.isInteger(value) && value > 0 && value < 2 ** 26)) throw new SimdpropError('OPTION', `positionEmbedding ${what} must be a positive integer, got ${describe(value)}`);
    }
  }

  config(): Record<string, unknown> {
    return { length: this.length, dim: this.dim, name: this.name };
  }

  node(inputs: readonly TensorType[]): PositionNode {
    this.expectFloatInputs(inputs, 1);
    const { shape } = inputs[0];
    if (shape.length !== 2 || shape[1] !== this.dim || shape[0] > this.length) {
      throw this.shapeError(`[T, ${this.dim}] with T ≤ ${this.length} positions`, inputs[0]);
    }
    return { output: { shape, dtype: 'float32' }, size: shape[0] * this.dim };
  }

  override parameters(): readonly ParameterSpec[] {
    return [{ name: 'weight', shape: [this.length, this.dim], init: { kind: 'normal', std: 1 }, tags: ['weight', 'decay'] }];
  }

  forward(kernels: Kernels, call: OpCall<PositionNode>): void {
    const { size } = call.node;
    // out = table rows for every sample, then + x (the sum x + p either way round, exactly).
    kernels.copy_rows(call.output, size, call.params[0], 0, call.rows, size, 0);
    kernels.axpy(call.output, call.inputs[0], call.rows * size, 1);
  }

  /** The one position `position`: x + its row of the table (no state across positions). */
  decode(kernels: Kernels, call: OpCall<PositionNode>, position: number): void {
    kernels.copy(call.output, call.params[0] + position * this.dim * 4, this.dim);
    kernels.axpy(call.output, call.inputs[0], this.dim, 1);
  }

  backward(kernels: Kernels, call: OpCall<PositionNode>): void {
    const { size } = call.node;
    const inputGrad = call.inputGrads[0];
    if (inputGrad !== 0) kernels.copy_rows(inputGrad, size, call.outputGrad, size, call.rows, size, call.accumulateInputs[0]);
    const tableGrad = call.paramGrads[0];
    if (tableGrad === 0) return;
    // The rows the input reached sum over the batch; positions past T get no gradient.
    kernels.bias_grad(tableGrad, call.outputGrad, call.rows, size, call.accumulateParams);
    if (call.accumulateParams === 0 && size < this.length * this.dim) kernels.fill(tableGrad + size * 4, this.length * this.dim - size, 0);
  }
}

/**
 * Learned positions added to a [T, dim] input: `positionEmbedding(blockSize, 64, { name: 'transformer.wpe' })`
 * on token embeddings, as GPT-2's `wpe`.
 */
export function positionEmbedding(length: number, dim: number, options?: LayerOptions): PositionEmbedding {
  return new PositionEmbedding(length, dim, options);
}

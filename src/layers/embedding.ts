// An embedding: int32 indices → rows of a [count × dim] table (PyTorch's nn.Embedding, N(0, 1) init).
// The model checks every index is in [0, count) before anything runs (a LABEL error otherwise). The
// backward scatter-adds each position's gradient into its row, in index order: deterministic.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, ParameterSpec, TensorType } from '../graph/op.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

interface EmbeddingNode extends NodeSpec {
  /** Indices per sample. */
  readonly positions: number;
}

export class Embedding extends Layer<EmbeddingNode> {
  readonly kind = 'embedding';

  constructor(readonly count: number, readonly dim: number, options?: LayerOptions) {
    super(options);
    for (const [what, value] of [['count', count], ['dim', dim]] as const) {
      if (!(Number.isInteger(value) && value > 0 && value < 2 ** 26)) throw new SimdpropError('OPTION', `embedding ${what} must be a positive integer, got ${describe(value)}`);
    }
  }

  config(): Record<string, unknown> {
    return { count: this.count, dim: this.dim, name: this.name };
  }

  node(inputs: readonly TensorType[]): EmbeddingNode {
    if (inputs.length !== 1) throw new SimdpropError('SHAPE', `${this.label} takes 1 input, got ${inputs.length}`);
    if (inputs[0].dtype !== 'int32') {
      throw new SimdpropError('TYPE', `${this.label} reads int32 indices, but its input is ${inputs[0].dtype}: make it input(shape, { dtype: 'int32' })`);
    }
    const positions = sizeOf(inputs[0].shape);
    return { output: { shape: [...inputs[0].shape, this.dim], dtype: 'float32' }, positions, indexBound: this.count };
  }

  override parameters(): readonly ParameterSpec[] {
    return [{ name: 'weight', shape: [this.count, this.dim], init: { kind: 'normal', std: 1 }, tags: ['weight', 'decay'] }];
  }

  forward(kernels: Kernels, call: OpCall<EmbeddingNode>): void {
    kernels.embedding_forward(call.output, call.inputs[0], call.params[0], call.rows * call.node.positions, this.dim);
  }

  backward(kernels: Kernels, call: OpCall<EmbeddingNode>): void {
    const tableGrad = call.paramGrads[0];
    if (tableGrad === 0) return;
    kernels.embedding_backward(tableGrad, call.outputGrad, call.inputs[0], call.rows * call.node.positions, this.dim, 0, this.count, call.accumulateParams);
  }
}

/** A table of `count` rows of `dim` values, indexed by an int32 input: `embedding(vocabulary, 64).apply(tokens)`. */
export function embedding(count: number, dim: number, options?: LayerOptions): Embedding {
  return new Embedding(count, dim, options);
}

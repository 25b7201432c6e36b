// Reshape and flatten: the same values per sample under another shape. Memory is row-major, so the
// output is the input itself — a view: no copy forward, and its gradient is the input's.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, TensorType, TorchOrder } from '../graph/op.js';
import { formatShape } from '../graph/symbolic.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

abstract class View extends Layer {
  /** The output shape for an input of `shape` (same number of values). */
  protected abstract reshaped(input: TensorType): readonly number[];

  node(inputs: readonly TensorType[]): NodeSpec {
    if (inputs.length !== 1) throw new SimdpropError('SHAPE', `${this.label} takes 1 input, got ${inputs.length}`);
    return { output: { shape: this.reshaped(inputs[0]), dtype: inputs[0].dtype, torchOrder: this.torchOrderOf(inputs[0]) }, aliasOf: 0 };
  }

  /** How PyTorch orders the output's values, where it differs (see TensorType.torchOrder). */
  protected torchOrderOf(_input: TensorType): TorchOrder | undefined {
    return undefined;
  }

  forward(_kernels: Kernels, _call: OpCall): void {}

  backward(_kernels: Kernels, _call: OpCall): void {}
}

export class Reshape extends View {
  readonly kind = 'reshape';
  readonly shape: readonly number[];

  /** `shape` per sample; one entry may be −1, inferred from the input's size. */
  constructor(shape: readonly number[], options?: LayerOptions) {
    super(options);
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && (d > 0 || d === -1)) ||
      shape.filter((d) => d === -1).length > 1) {
      throw new SimdpropError('OPTION', `reshape takes a per-sample shape of positive integers and at most one −1, got ${describe(shape)}`);
    }
    this.shape = Object.freeze([...shape]);
  }

  config(): Record<string, unknown> {
    return { shape: [...this.shape], name: this.name };
  }

  protected reshaped(input: TensorType): readonly number[] {
    const size = sizeOf(input.shape);
    const known = this.shape.reduce((product, d) => (d === -1 ? product : product * d), 1);
    const shape = this.shape.map((d) => (d === -1 ? size / known : d));
    if (!shape.every((d) => Number.isInteger(d)) || sizeOf(shape) !== size) {
      throw new SimdpropError('SHAPE', `${this.label} cannot make ${formatShape(this.shape)} of an input ${formatShape(input.shape)} (${size} values per sample)`);
    }
    return shape;
  }
}

export class Flatten extends View {
  readonly kind = 'flatten';

  config(): Record<string, unknown> {
    return { name: this.name };
  }

  protected reshaped(input: TensorType): readonly number[] {
    return [sizeOf(input.shape)];
  }

  // PyTorch flattens a feature map channels first: the dense layer after it orders its weight so in files.
  protected override torchOrderOf(input: TensorType): TorchOrder | undefined {
    if (input.torchOrder === 'channelsFirst' && input.shape.length > 1) return { flattenedFrom: input.shape };
    return input.torchOrder;
  }
}

/** The same values per sample under another shape: `reshape([4, 8])`, `reshape([-1, 16])`. */
export function reshape(shape: readonly number[], options?: LayerOptions): Reshape {
  return new Reshape(shape, options);
}

/** Each sample's values as one axis ([height, width, channels] → [height·width·channels]). */
export function flatten(options?: LayerOptions): Flatten {
  return new Flatten(options);
}

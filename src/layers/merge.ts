// Merges of several tensors: add (a residual connection: the sum of tensors of one shape), multiply
// (their elementwise product, a gate) and concat (joined along an axis). Each input's gradient is
// written or added to, as its accumulate flag says.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { NodeSpec, OpCall, TensorType, TorchOrder } from '../graph/op.js';
import { formatShape, SymbolicTensor } from '../graph/symbolic.js';
import { Layer, sizeOf, type LayerOptions } from './layer.js';

interface ElementwiseNode extends NodeSpec {
  readonly size: number;
}

/** How a merge names an input in a SHAPE error: the layer that makes it, when it is a symbolic tensor. */
function describeInput(input: TensorType): string {
  return input instanceof SymbolicTensor ? input.describe() : formatShape(input.shape);
}

// Inputs of one shape, float32, at least `least` of them; a SHAPE error naming the two that differ.
function sameShapes(layer: Layer, inputs: readonly TensorType[], least: number): void {
  if (inputs.length < least) throw new SimdpropError('SHAPE', `${layer.label} takes at least ${least} tensors, got ${inputs.length}`);
  inputs.forEach((input, i) => {
    if (input.dtype !== 'float32') throw new SimdpropError('TYPE', `${layer.label} takes float32 tensors, but input ${i} is ${input.dtype}`);
    if (formatShape(input.shape) !== formatShape(inputs[0].shape)) {
      throw new SimdpropError('SHAPE', `${layer.label}: ${describeInput(inputs[0])} and ${describeInput(input)} differ in shape`);
    }
  });
}

/**
 * How PyTorch orders an elementwise merge's output: as the first input whose order is known (a feature
 * map's, or a flatten of one): the tensors merged with it have that order in PyTorch too, whatever
 * simdprop knows of them (the model's input, say, which is NCHW there), so the order of the arguments
 * does not matter.
 */
function mergedTorchOrder(inputs: readonly TensorType[]): TorchOrder | undefined {
  return inputs.find((input) => input.torchOrder !== undefined)?.torchOrder;
}

export class Add extends Layer<ElementwiseNode> {
  readonly kind = 'add';

  config(): Record<string, unknown> {
    return { name: this.name };
  }

  node(inputs: readonly TensorType[]): ElementwiseNode {
    sameShapes(this, inputs, 2);
    return { output: { shape: inputs[0].shape, dtype: 'float32', torchOrder: mergedTorchOrder(inputs) }, size: sizeOf(inputs[0].shape) };
  }

  forward(kernels: Kernels, call: OpCall<ElementwiseNode>): void {
    const n = call.rows * call.node.size;
    kernels.copy(call.output, call.inputs[0], n);
    // y += 1·x is y + x exactly.
    for (let i = 1; i < call.inputs.length; i++) kernels.axpy(call.output, call.inputs[i], n, 1);
  }

  // d(a + b)/da = 1: each input's gradient is the output's.
  backward(kernels: Kernels, call: OpCall<ElementwiseNode>): void {
    const n = call.rows * call.node.size;
    for (let i = 0; i < call.inputs.length; i++) {
      const grad = call.inputGrads[i];
      if (grad === 0) continue;
      if (call.accumulateInputs[i] !== 0) kernels.axpy(grad, call.outputGrad, n, 1);
      else kernels.copy(grad, call.outputGrad, n);
    }
  }
}

export class Multiply extends Layer<ElementwiseNode> {
  readonly kind = 'multiply';

  config(): Record<string, unknown> {
    return { name: this.name };
  }

  node(inputs: readonly TensorType[]): ElementwiseNode {
    sameShapes(this, inputs, 2);
    if (inputs.length !== 2) throw new SimdpropError('SHAPE', `${this.label} takes two tensors, got ${inputs.length}`);
    return { output: { shape: inputs[0].shape, dtype: 'float32', torchOrder: mergedTorchOrder(inputs) }, size: sizeOf(inputs[0].shape) };
  }

  forward(kernels: Kernels, call: OpCall<ElementwiseNode>): void {
    kernels.mul(call.output, call.inputs[0], call.inputs[1], call.rows * call.node.size);
  }

  // d(a ⊙ b)/da = b and /db = a.
  backward(kernels: Kernels, call: OpCall<ElementwiseNode>): void {
    const n = call.rows * call.node.size;
    for (let i = 0; i < 2; i++) {
      const grad = call.inputGrads[i];
      if (grad === 0) continue;
      const other = call.inputs[1 - i];
      if (call.accumulateInputs[i] !== 0) kernels.mul_add(grad, call.outputGrad, other, n);
      else kernels.mul(grad, call.outputGrad, other, n);
    }
  }
}

interface ConcatNode extends NodeSpec {
  /** Rows of the copies per sample (the product of the axes before the one joined along). */
  readonly rowsPerSample: number;
  /** Each input's values per row, where it starts in the output's row, and the output's values per row. */
  readonly widths: readonly number[];
  readonly offsets: readonly number[];
  readonly width: number;
}

export interface ConcatOptions extends LayerOptions {
  /** The axis to join along, of the per-sample shape (default −1, the last; negative counts from the end). */
  axis?: number;
}

export class Concat extends Layer<ConcatNode> {
  readonly kind = 'concat';
  readonly axis: number;

  constructor(options: ConcatOptions = {}) {
    super(options);
    this.axis = options.axis ?? -1;
    if (!Number.isInteger(this.axis)) throw new SimdpropError('OPTION', `concat axis must be an integer, got ${describe(options.axis)}`);
  }

  config(): Record<string, unknown> {
    return { axis: this.axis, name: this.name };
  }

  node(inputs: readonly TensorType[]): ConcatNode {
    if (inputs.length < 2) throw new SimdpropError('SHAPE', `${this.label} takes at least 2 tensors, got ${inputs.length}`);
    const rank = inputs[0].shape.length;
    const axis = this.axis < 0 ? rank + this.axis : this.axis;
    if (axis < 0 || axis >= rank) throw new SimdpropError('SHAPE', `${this.label}: axis ${this.axis} is outside the inputs' rank ${rank}`);
    inputs.forEach((input, i) => {
      if (input.dtype !== 'float32') throw new SimdpropError('TYPE', `${this.label} takes float32 tensors, but input ${i} is ${input.dtype}`);
      const fits = input.shape.length === rank && input.shape.every((d, k) => k === axis || d === inputs[0].shape[k]);
      if (!fits) {
        throw new SimdpropError('SHAPE', `${this.label} joins along axis ${this.axis}, so the other axes must agree, but ` +
          `${describeInput(inputs[0])} and ${describeInput(input)} differ`);
      }
    });
    const shape = [...inputs[0].shape];
    shape[axis] = inputs.reduce((sum, input) => sum + input.shape[axis], 0);
    const widths = inputs.map((input) => sizeOf(input.shape.slice(axis)));
    const offsets = widths.map((_, i) => widths.slice(0, i).reduce((sum, w) => sum + w, 0));
    return {
      // A join of feature maps along any axis (the channels: torch.cat(dim=1)) is a feature map.
      output: { shape, dtype: 'float32', torchOrder: inputs.some((input) => input.torchOrder === 'channelsFirst') ? 'channelsFirst' : undefined },
      rowsPerSample: sizeOf(shape.slice(0, axis)), widths, offsets,
      width: sizeOf(shape.slice(axis)),
    };
  }

  forward(kernels: Kernels, call: OpCall<ConcatNode>): void {
    const { rowsPerSample, widths, offsets, width } = call.node;
    const rows = call.rows * rowsPerSample;
    for (let i = 0; i < widths.length; i++) {
      kernels.copy_rows(call.output + offsets[i] * 4, width, call.inputs[i], widths[i], rows, widths[i], 0);
    }
  }

  // Each input's gradient is its block of the output's.
  backward(kernels: Kernels, call: OpCall<ConcatNode>): void {
    const { rowsPerSample, widths, offsets, width } = call.node;
    const rows = call.rows * rowsPerSample;
    for (let i = 0; i < widths.length; i++) {
      const grad = call.inputGrads[i];
      if (grad === 0) continue;
      kernels.copy_rows(grad, widths[i], call.outputGrad + offsets[i] * 4, width, rows, widths[i], call.accumulateInputs[i]);
    }
  }
}

/** Splits a merge's arguments into tensors and an options object at the end. */
function tensorsAndOptions(args: unknown[]): [SymbolicTensor[], LayerOptions | undefined] {
  const last = args[args.length - 1];
  if (args.length > 0 && !(last instanceof SymbolicTensor) && typeof last === 'object' && last !== null) {
    return [args.slice(0, -1) as SymbolicTensor[], last as LayerOptions];
  }
  return [args as SymbolicTensor[], undefined];
}

/** The elementwise sum of tensors of one shape (a residual connection): `add(x, y)`, `add(x, y, z, { name })`. */
export function add(...args: (SymbolicTensor | LayerOptions)[]): SymbolicTensor {
  const [tensors, options] = tensorsAndOptions(args);
  return new Add(options).apply(...tensors);
}

/** The elementwise product of two tensors of one shape: `multiply(gate, x)`. */
export function multiply(a: SymbolicTensor, b: SymbolicTensor, options?: LayerOptions): SymbolicTensor {
  return new Multiply(options).apply(a, b);
}

/** Tensors joined along an axis of their per-sample shape (default the last): `concat([a, b])`, `concat([a, b], 0)`. */
export function concat(tensors: SymbolicTensor[], axis = -1, options: LayerOptions = {}): SymbolicTensor {
  if (!Array.isArray(tensors)) throw new SimdpropError('TYPE', `concat takes an array of tensors, got ${describe(tensors)}`);
  return new Concat({ ...options, axis }).apply(...tensors);
}

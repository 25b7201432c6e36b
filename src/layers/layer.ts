// What every layer kind shares: its name (the PyTorch attribute path of its tensors), whether it
// trains, and apply(), which connects it to symbolic tensors. The kinds (src/layers/<kind>.ts)
// implement the Op interface: shapes, parameters, saved tensors, forward and backward as kernel calls.
import type { Kernels } from '../backend/kernels.js';
import { SimdpropError, describe } from '../errors.js';
import type { BufferSpec, Initializer, NodeSpec, Op, OpCall, ParameterSpec, TensorType } from '../graph/op.js';
import { formatShape, SymbolicTensor } from '../graph/symbolic.js';

/** A PyTorch attribute path: identifiers and indices joined by dots, e.g. "blocks.0.fc", or "0" in an nn.Sequential. */
const NAME = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;

export interface LayerOptions {
  /**
   * The PyTorch attribute path of the layer's tensors: `dense(16, 32, 'relu', { name: 'blocks.0.fc' })`
   * owns "blocks.0.fc.weight" and "blocks.0.fc.bias". Unnamed layers get stable generated names.
   */
  name?: string;
  /**
   * How parameters start, by their name in the layer, in place of the kind's default (as Keras's
   * kernel_initializer): `{ weight: { kind: 'normal', std: 0.02 } }` — nanoGPT's init.
   */
  init?: Readonly<Record<string, Initializer>>;
}

function checkInitializers(init: unknown): Readonly<Record<string, Initializer>> | undefined {
  if (init === undefined) return undefined;
  if (typeof init !== 'object' || init === null || Array.isArray(init)) {
    throw new SimdpropError('OPTION', `init must map parameter names to initializers, such as { weight: { kind: 'normal', std: 0.02 } }, got ${describe(init)}`);
  }
  for (const [name, value] of Object.entries(init)) {
    const v = value as { kind?: unknown; std?: unknown; limit?: unknown } | null;
    const valid = typeof v === 'object' && v !== null && (
      v.kind === 'zeros' || v.kind === 'ones' ||
      (v.kind === 'normal' && typeof v.std === 'number' && v.std >= 0 && Number.isFinite(v.std)) ||
      (v.kind === 'uniform' && typeof v.limit === 'number' && v.limit >= 0 && Number.isFinite(v.limit)));
    if (!valid) {
      throw new SimdpropError('OPTION', `init.${name} must be { kind: 'zeros' | 'ones' }, { kind: 'normal', std } or { kind: 'uniform', limit } with a finite std or limit ≥ 0, got ${describe(value)}`);
    }
  }
  return { ...(init as Record<string, Initializer>) };
}

function checkLayerName(name: unknown): string | undefined {
  if (name === undefined) return undefined;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new SimdpropError('OPTION', `a layer name must be a PyTorch attribute path such as "blocks.0.fc", got ${describe(name)}`);
  }
  return name;
}

export abstract class Layer<N extends NodeSpec = NodeSpec> implements Op<N> {
  abstract readonly kind: string;
  readonly name: string | undefined;
  /** Initializers in place of the defaults, by parameter name (LayerOptions.init). */
  readonly init: Readonly<Record<string, Initializer>> | undefined;
  /** Whether the optimizer updates this layer's parameters. */
  trainable = true;

  constructor(options: LayerOptions | undefined) {
    this.name = checkLayerName(options?.name);
    this.init = checkInitializers(options?.init);
  }

  /** How errors name the layer: its kind, and its name when it has one. */
  get label(): string {
    return this.name === undefined ? this.kind : `${this.kind} "${this.name}"`;
  }

  /**
   * The layer's output for these inputs, as a symbolic tensor (nothing is computed). Applying one layer
   * twice shares its weights; their gradient is the sum of both uses.
   */
  apply(...inputs: SymbolicTensor[]): SymbolicTensor {
    inputs.forEach((tensor, i) => {
      if (!(tensor instanceof SymbolicTensor)) {
        throw new SimdpropError('TYPE', `${this.label}.apply: input ${i} must be a symbolic tensor (from input() or a layer's apply()), got ${describe(tensor)}`);
      }
    });
    const spec = this.node(inputs);
    return new SymbolicTensor(spec.output.shape, spec.output.dtype, { op: this, label: this.label, inputs, spec }, undefined, spec.output.torchOrder);
  }

  /** The layer's settings, from which the registry remakes it (saved with the model). */
  abstract config(): Record<string, unknown>;

  abstract node(inputs: readonly TensorType[]): N;

  parameters(_inputs: readonly TensorType[]): readonly ParameterSpec[] {
    return [];
  }

  buffers(_inputs: readonly TensorType[]): readonly BufferSpec[] {
    return [];
  }

  abstract forward(kernels: Kernels, call: OpCall<N>): void;
  abstract backward(kernels: Kernels, call: OpCall<N>): void;

  /** A SHAPE error naming this layer and the input it cannot take. */
  protected shapeError(expected: string, got: TensorType, index = 0): SimdpropError {
    return new SimdpropError('SHAPE', `${this.label} takes ${expected}, but input ${index} is ${formatShape(got.shape)}`);
  }

  /** Checks the number of inputs and that each is float32. */
  protected expectFloatInputs(inputs: readonly TensorType[], count: number | 'any'): void {
    if (count === 'any' ? inputs.length < 2 : inputs.length !== count) {
      const wanted = count === 'any' ? 'two or more inputs' : `${count} input${count === 1 ? '' : 's'}`;
      throw new SimdpropError('SHAPE', `${this.label} takes ${wanted}, got ${inputs.length}`);
    }
    inputs.forEach((input, i) => {
      if (input.dtype !== 'float32') throw new SimdpropError('TYPE', `${this.label} takes float32 inputs, but input ${i} is ${input.dtype}`);
    });
  }
}

/** Values per sample of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((product, d) => product * d, 1);
}

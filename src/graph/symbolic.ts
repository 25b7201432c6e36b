// Symbolic tensors: what input() gives and layer.apply() returns — a per-sample type and the node that
// makes it — from which a Model is built. Nothing is computed until the model runs.
import { SimdpropError, describe } from '../errors.js';
import type { DType, NodeSpec, Op, Shape, TensorType, TorchOrder } from './op.js';

/** The application of an op that produces a tensor: which op, on which tensors, and what it needs. */
export interface Producer {
  readonly op: Op;
  /** How errors and summaries name the op, e.g. `dense "fc1"`. */
  readonly label: string;
  readonly inputs: readonly SymbolicTensor[];
  readonly spec: NodeSpec;
}

let created = 0;

export class SymbolicTensor implements TensorType {
  /** Creation order: models list inputs and nodes in the order they were made, so names are stable. */
  readonly id = created++;

  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    /** The node that makes it; undefined for an input(). */
    readonly producer: Producer | undefined,
    /** An input's name (given, or made by the model). */
    readonly name: string | undefined = undefined,
    readonly torchOrder: TorchOrder | undefined = undefined,
  ) {}

  /** Floats (or int32s) per sample. */
  get size(): number {
    return this.shape.reduce((product, d) => product * d, 1);
  }

  /** How errors name it: the layer that makes it and its shape, e.g. `the output of dense "fc1" [16]`. */
  describe(): string {
    const where = this.producer ? `the output of ${this.producer.label}` : `input ${this.name ? `"${this.name}"` : '(unnamed)'}`;
    return `${where} ${formatShape(this.shape)}`;
  }
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export interface InputOptions {
  /** 'float32' (default) or 'int32' (token or class indices, for an embedding). */
  dtype?: DType;
  /** The input's name: forward() and fit() take a record of inputs by these names. */
  name?: string;
}

/** Checks a per-sample shape: a non-empty array of positive integers. */
export function checkShape(shape: unknown, what: string): readonly number[] {
  if (!Array.isArray(shape) || shape.length === 0 ||
    !shape.every((d) => typeof d === 'number' && Number.isInteger(d) && d > 0 && d < 2 ** 31)) {
    throw new SimdpropError('SHAPE', `${what} must be a non-empty array of positive integers (per sample, without the batch), got ${describe(shape)}`);
  }
  if (shape.reduce((product: number, d: number) => product * d, 1) >= 2 ** 31) {
    throw new SimdpropError('SHAPE', `${what} ${formatShape(shape)} holds 2³¹ or more values per sample`);
  }
  return Object.freeze([...shape]);
}

/** A model input of `shape` per sample: `input([784])`, `input([32], { dtype: 'int32', name: 'tokens' })`. */
export function input(shape: readonly number[], options: InputOptions = {}): SymbolicTensor {
  const dtype = options.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'int32') throw new SimdpropError('OPTION', `input dtype must be 'float32' or 'int32', got ${describe(dtype)}`);
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name.length === 0)) {
    throw new SimdpropError('OPTION', `input name must be a non-empty string, got ${describe(options.name)}`);
  }
  return new SymbolicTensor(checkShape(shape, 'input shape'), dtype, undefined, options.name);
}

/** One tensor, several in order, or several by name. */
export type Tensors = SymbolicTensor | readonly SymbolicTensor[] | Readonly<Record<string, SymbolicTensor>>;
/** How a model's inputs or outputs were given: one, an array, or a record (whose keys name them). */
export type TensorForm = 'single' | 'array' | 'record';

/** The tensors of { inputs } or { outputs }, the names a record gives them, and the form. */
export function tensorList(given: Tensors, what: string): { tensors: SymbolicTensor[]; names: (string | undefined)[]; form: TensorForm } {
  if (Array.isArray(given)) {
    if (given.length === 0) throw new SimdpropError('GRAPH', `${what} is empty: a model needs at least one`);
    return { tensors: [...given], names: given.map(() => undefined), form: 'array' };
  }
  if (given instanceof SymbolicTensor) return { tensors: [given], names: [undefined], form: 'single' };
  if (typeof given === 'object' && given !== null) {
    const names = Object.keys(given);
    if (names.length === 0) throw new SimdpropError('GRAPH', `${what} is empty: a model needs at least one`);
    return { tensors: names.map((name) => (given as Record<string, SymbolicTensor>)[name]), names, form: 'record' };
  }
  throw new SimdpropError('GRAPH', `${what} must be a symbolic tensor, an array of them or a record of them by name, got ${describe(given)}`);
}

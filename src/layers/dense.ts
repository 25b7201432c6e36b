// A fully connected layer: z = x·W + b, a = f(z), with W stored [inputSize × outputSize] row-major
// so the forward product broadcasts one input element against contiguous rows of W.
import { activationCode, checkActivation, type ActivationName } from '../activations.js';
import { SimdpropError, describe } from '../errors.js';

export interface DenseOptions {
  /** Slope of leakyRelu on the negative side (default 0.01, as PyTorch). */
  negativeSlope?: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
}

export class Dense {
  readonly activation: ActivationName;
  /** @internal The activation's number for the dense_forward kernel. */
  readonly activationCode: number;
  readonly negativeSlope: number;
  readonly hasBias: boolean;
  /** Whether the optimizer updates this layer's parameters. */
  trainable = true;

  constructor(
    readonly inputSize: number,
    readonly outputSize: number,
    activation: ActivationName = 'linear',
    options: DenseOptions = {},
  ) {
    checkSize(inputSize, 'inputSize');
    checkSize(outputSize, 'outputSize');
    this.activation = checkActivation(activation);
    this.activationCode = activationCode(this.activation);
    this.negativeSlope = options.negativeSlope ?? 0.01;
    if (!Number.isFinite(this.negativeSlope) || this.negativeSlope < 0) {
      throw new SimdpropError('OPTION', `negativeSlope must be a finite number ≥ 0, got ${describe(options.negativeSlope)}`);
    }
    this.hasBias = options.bias ?? true;
  }

  get weightCount(): number {
    return this.inputSize * this.outputSize;
  }
}

function checkSize(value: unknown, what: string): void {
  if (!(typeof value === 'number' && Number.isInteger(value) && value > 0 && value < 2 ** 26)) {
    throw new SimdpropError('OPTION', `dense ${what} must be a positive integer, got ${describe(value)}`);
  }
}

/** A dense layer: `dense(784, 128, 'relu')`. */
export function dense(inputSize: number, outputSize: number, activation: ActivationName = 'linear', options?: DenseOptions): Dense {
  return new Dense(inputSize, outputSize, activation, options);
}

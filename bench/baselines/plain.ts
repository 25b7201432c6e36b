// The plain hand-written JS baseline: a dense MLP as a competent person writes it without a library —
// Float32Array buffers allocated once, straightforward loops. Matrices are row-major; a layer's weight
// is [inputSize × outputSize], and params, grads and Adam's moments share one flat layout.

/** out[rows×outputSize] = x[rows×inputSize] · weight[inputSize×outputSize] + bias.  "=" */
export function linearForward(
  out: Float32Array, x: Float32Array, weight: Float32Array, bias: Float32Array,
  rows: number, inputSize: number, outputSize: number,
): void {
  for (let i = 0; i < rows; i++) {
    const outRow = i * outputSize;
    for (let j = 0; j < outputSize; j++) out[outRow + j] = bias[j];
    // i-k-j order: the inner loop walks one row of weight and one row of out, both contiguous.
    for (let k = 0; k < inputSize; k++) {
      const xik = x[i * inputSize + k];
      const weightRow = k * outputSize;
      for (let j = 0; j < outputSize; j++) out[outRow + j] += xik * weight[weightRow + j];
    }
  }
}

/** dx[rows×inputSize] = dz[rows×outputSize] · weightᵀ, weight stored [inputSize×outputSize].  "=" */
export function inputGrad(
  dx: Float32Array, dz: Float32Array, weight: Float32Array,
  rows: number, inputSize: number, outputSize: number,
): void {
  // Each element is a dot product of a row of dz with a row of weight: both contiguous.
  for (let i = 0; i < rows; i++) {
    const dzRow = i * outputSize;
    for (let j = 0; j < inputSize; j++) {
      const weightRow = j * outputSize;
      let sum = 0;
      for (let k = 0; k < outputSize; k++) sum += dz[dzRow + k] * weight[weightRow + k];
      dx[i * inputSize + j] = sum;
    }
  }
}

/** dWeight[inputSize×outputSize] += x[rows×inputSize]ᵀ · dz[rows×outputSize].  "+=" */
export function weightGrad(
  dWeight: Float32Array, x: Float32Array, dz: Float32Array,
  rows: number, inputSize: number, outputSize: number,
): void {
  // r-i-j order: one row of x and dz at a time, the inner loop along rows of dWeight and dz.
  for (let r = 0; r < rows; r++) {
    const dzRow = r * outputSize;
    for (let i = 0; i < inputSize; i++) {
      const xri = x[r * inputSize + i];
      const gradRow = i * outputSize;
      for (let j = 0; j < outputSize; j++) dWeight[gradRow + j] += xri * dz[dzRow + j];
    }
  }
}

/** dBias[cols] += column sums of dz[rows×cols].  "+=" */
function biasGrad(dBias: Float32Array, dz: Float32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) dBias[j] += dz[r * cols + j];
  }
}

function reluForward(a: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) if (a[i] < 0) a[i] = 0;
}

/** dz = da · (a > 0), in place over da, from the activation's output a. */
function reluBackward(da: Float32Array, a: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) if (a[i] <= 0) da[i] = 0;
}

/**
 * Softmax cross-entropy of logits[rows×cols] against class labels: writes dz = (softmax − onehot) / rows
 * into grad and returns the mean loss.
 */
function softmaxCrossEntropy(grad: Float32Array, logits: Float32Array, labels: Int32Array, rows: number, cols: number): number {
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, logits[row + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) {
      const e = Math.exp(logits[row + j] - max);
      grad[row + j] = e;
      sum += e;
    }
    const label = labels[r];
    loss -= Math.log(grad[row + label] / sum);
    for (let j = 0; j < cols; j++) grad[row + j] /= sum * rows;
    grad[row + label] -= 1 / rows;
  }
  return loss / rows;
}

/**
 * Binary cross-entropy of sigmoid(logits) against targets in [0, 1], computed from the logits (stable):
 * writes dz = (sigmoid(z) − y) / n into grad and returns the mean loss.
 */
function sigmoidBce(grad: Float32Array, logits: Float32Array, targets: Float32Array, n: number): number {
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const z = logits[i];
    const y = targets[i];
    loss += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    grad[i] = (1 / (1 + Math.exp(-z)) - y) / n;
  }
  return loss / n;
}

export type PlainLoss = 'softmaxCrossEntropy' | 'bce';

export type PlainOptimizer =
  | { kind: 'sgd'; lr: number }
  | { kind: 'adam'; lr: number; beta1: number; beta2: number; epsilon: number };

export interface PlainMlpOptions {
  /** Layer widths, input first: [784, 128, 10]. Hidden layers use relu; the last is linear (logits). */
  widths: readonly number[];
  /** 'softmaxCrossEntropy' takes int32 class labels; 'bce' one sigmoid target per output. */
  loss: PlainLoss;
  optimizer: PlainOptimizer;
  /** Rows per batch: every buffer is sized for it once. */
  batchSize: number;
  /** Uniform random numbers in [0, 1) for the weight initialization. */
  random: () => number;
}

interface PlainLayer {
  inputSize: number;
  outputSize: number;
  weight: Float32Array;
  bias: Float32Array;
  weightGrad: Float32Array;
  biasGrad: Float32Array;
  /** Output of the layer (after relu for hidden layers; logits for the last), batchSize × outputSize. */
  out: Float32Array;
  /** dLoss/dz of the layer, batchSize × outputSize. */
  delta: Float32Array;
}

export class PlainMlp {
  private readonly params: Float32Array;
  private readonly grads: Float32Array;
  private readonly firstMoment: Float32Array;
  private readonly secondMoment: Float32Array;
  private readonly layers: PlainLayer[] = [];
  private steps = 0;

  constructor(private readonly options: PlainMlpOptions) {
    const { widths, batchSize } = options;
    let count = 0;
    for (let l = 1; l < widths.length; l++) count += widths[l - 1] * widths[l] + widths[l];
    this.params = new Float32Array(count);
    this.grads = new Float32Array(count);
    const adam = options.optimizer.kind === 'adam';
    this.firstMoment = new Float32Array(adam ? count : 0);
    this.secondMoment = new Float32Array(adam ? count : 0);
    let offset = 0;
    const section = (buffer: Float32Array, start: number, length: number): Float32Array => buffer.subarray(start, start + length);
    for (let l = 1; l < widths.length; l++) {
      const inputSize = widths[l - 1];
      const outputSize = widths[l];
      const weightCount = inputSize * outputSize;
      this.layers.push({
        inputSize,
        outputSize,
        weight: section(this.params, offset, weightCount),
        bias: section(this.params, offset + weightCount, outputSize),
        weightGrad: section(this.grads, offset, weightCount),
        biasGrad: section(this.grads, offset + weightCount, outputSize),
        out: new Float32Array(batchSize * outputSize),
        delta: new Float32Array(batchSize * outputSize),
      });
      // He-uniform weights (variance 2 / inputSize), zero biases.
      const limit = Math.sqrt(6 / inputSize);
      for (let i = 0; i < weightCount; i++) this.params[offset + i] = (2 * options.random() - 1) * limit;
      offset += weightCount + outputSize;
    }
  }

  /** One step on a full batch: zero grads, forward, loss, backward, update. Returns the mean loss. */
  trainStep(x: Float32Array, targets: Int32Array | Float32Array): number {
    const rows = this.options.batchSize;
    this.grads.fill(0);
    let input = x;
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l];
      linearForward(layer.out, input, layer.weight, layer.bias, rows, layer.inputSize, layer.outputSize);
      if (l < this.layers.length - 1) reluForward(layer.out, rows * layer.outputSize);
      input = layer.out;
    }
    const last = this.layers[this.layers.length - 1];
    const loss = this.options.loss === 'softmaxCrossEntropy'
      ? softmaxCrossEntropy(last.delta, last.out, targets as Int32Array, rows, last.outputSize)
      : sigmoidBce(last.delta, last.out, targets as Float32Array, rows * last.outputSize);
    for (let l = this.layers.length - 1; l >= 0; l--) {
      const layer = this.layers[l];
      const layerInput = l > 0 ? this.layers[l - 1].out : x;
      weightGrad(layer.weightGrad, layerInput, layer.delta, rows, layer.inputSize, layer.outputSize);
      biasGrad(layer.biasGrad, layer.delta, rows, layer.outputSize);
      if (l > 0) {
        const below = this.layers[l - 1];
        inputGrad(below.delta, layer.delta, layer.weight, rows, layer.inputSize, layer.outputSize);
        reluBackward(below.delta, below.out, rows * below.outputSize);
      }
    }
    this.update();
    return loss;
  }

  /** One optimizer step over the whole flat parameter buffer. */
  private update(): void {
    const { params, grads } = this;
    const optimizer = this.options.optimizer;
    this.steps++;
    if (optimizer.kind === 'sgd') {
      for (let i = 0; i < params.length; i++) params[i] -= optimizer.lr * grads[i];
      return;
    }
    // Adam as in PyTorch: bias-corrected moments, epsilon added after the square root.
    const { lr, beta1, beta2, epsilon } = optimizer;
    const m = this.firstMoment;
    const v = this.secondMoment;
    const stepSize = lr / (1 - beta1 ** this.steps);
    const secondCorrection = Math.sqrt(1 - beta2 ** this.steps);
    for (let i = 0; i < params.length; i++) {
      const g = grads[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      params[i] -= (stepSize * m[i]) / (Math.sqrt(v[i]) / secondCorrection + epsilon);
    }
  }
}

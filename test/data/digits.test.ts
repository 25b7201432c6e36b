// The pieces of the CNN example and the demo's CNN tab that need no training: a drawing made into an
// MNIST digit (demo/digits.ts), the digits' wire format, softmax, LeNet-5's shape, the random shifts
// and the confusion matrix (examples/lenet.ts).
import { expect, it } from 'vitest';
import { loadMnist } from '../../examples/data.js';
import { confusionMatrix, formatConfusionMatrix, lenet5, shiftImages } from '../../examples/lenet.js';
import { decodeDigits, encodeDigits, mnistImage, softmax } from '../../demo/digits.js';
import { Rng } from '../../src/index.js';

const SIDE = 28;

function centreOfMass(image: Float32Array): [number, number] {
  let mass = 0;
  let x = 0;
  let y = 0;
  image.forEach((value, i) => {
    mass += value;
    x += value * ((i % SIDE) + 0.5);
    y += value * (Math.floor(i / SIDE) + 0.5);
  });
  return [x / mass, y / mass];
}

// Rows and columns holding ink above `faint`: [height, width] of the bounding box.
function boxSize(image: Float32Array, faint = 0.1): [number, number] {
  const rows = new Set<number>();
  const columns = new Set<number>();
  image.forEach((value, i) => {
    if (value <= faint) return;
    rows.add(Math.floor(i / SIDE));
    columns.add(i % SIDE);
  });
  return [Math.max(...rows) - Math.min(...rows) + 1, Math.max(...columns) - Math.min(...columns) + 1];
}

function correlation(a: Float32Array, b: Float32Array): number {
  const mean = (v: Float32Array): number => v.reduce((sum, x) => sum + x, 0) / v.length;
  const [ma, mb] = [mean(a), mean(b)];
  let ab = 0;
  let aa = 0;
  let bb = 0;
  a.forEach((x, i) => {
    ab += (x - ma) * (b[i] - mb);
    aa += (x - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  });
  return ab / Math.sqrt(aa * bb);
}

// A drawing of `width` × `height` with the 28×28 image enlarged `scale` times, its top left at (left, top).
function enlarge(image: Float32Array, scale: number, width: number, height: number, left: number, top: number): Float32Array {
  const drawing = new Float32Array(width * height);
  for (let y = 0; y < SIDE * scale; y++) {
    for (let x = 0; x < SIDE * scale; x++) drawing[(top + y) * width + left + x] = image[Math.floor(y / scale) * SIDE + Math.floor(x / scale)];
  }
  return drawing;
}

it('an MNIST digit drawn ten times larger, off centre, comes back as itself', () => {
  const { train } = loadMnist(3, 0);
  let sum = 0;
  for (let digit = 0; digit < train.labels.length; digit++) {
    const original = train.x.slice(digit * 784, (digit + 1) * 784);
    const back = mnistImage(enlarge(original, 10, 400, 330, 97, 13), 400, 330);
    // MNIST's own centres of mass are up to half a pixel off 14.5, and some boxes 18 or 19 pixels where
    // faint edges did not count: measured 0.886 to 0.999 over these 30 digits, 0.966 on average.
    const similarity = correlation(original, back);
    expect(similarity).toBeGreaterThan(0.85);
    sum += similarity;
  }
  expect(sum / train.labels.length).toBeGreaterThan(0.95);
});

it('a drawing becomes a 20-pixel box of grey levels in [0, 1], centred by mass, whatever its size and place', () => {
  // An L: a tall bar and a foot, drawn at two sizes in different places.
  const draw = (width: number, height: number, left: number, top: number, unit: number): Float32Array => {
    const ink = new Float32Array(width * height);
    for (let y = 0; y < 10 * unit; y++) for (let x = 0; x < 2 * unit; x++) ink[(top + y) * width + left + x] = 1;
    for (let y = 8 * unit; y < 10 * unit; y++) for (let x = 0; x < 5 * unit; x++) ink[(top + y) * width + left + x] = 1;
    return ink;
  };
  const small = mnistImage(draw(120, 100, 3, 7, 8), 120, 100);
  const large = mnistImage(draw(500, 600, 250, 20, 37), 500, 600);
  for (const image of [small, large]) {
    expect(Math.min(...image)).toBe(0);
    expect(Math.max(...image)).toBeLessThanOrEqual(1);
    expect(Math.max(...image)).toBeGreaterThan(0.99);
    const [x, y] = centreOfMass(image);
    expect(Math.abs(x - 14.5)).toBeLessThan(0.01);
    expect(Math.abs(y - 14.5)).toBeLessThan(0.01);
    // The bar's 10 units scale to 20 pixels (21 rows when the box straddles pixel edges), its foot's 5 to 10.
    const [height, width] = boxSize(image);
    expect(height).toBeGreaterThanOrEqual(20);
    expect(height).toBeLessThanOrEqual(21);
    expect(width).toBeGreaterThanOrEqual(10);
    expect(width).toBeLessThanOrEqual(11);
  }
  expect(correlation(small, large)).toBeGreaterThan(0.97);
  expect(mnistImage(new Float32Array(50 * 40), 50, 40)).toEqual(new Float32Array(784));
});

it('the digits the server sends decode to the grey levels and labels sent, split as sent', () => {
  const { train, test } = loadMnist(2, 1);
  const { train: trainBack, heldOut } = decodeDigits(encodeDigits(train, test));
  expect(Array.from(trainBack.labels)).toEqual(Array.from(train.labels));
  expect(Array.from(heldOut.labels)).toEqual(Array.from(test.labels));
  expect(trainBack.x.length).toBe(train.x.length);
  trainBack.x.forEach((value, i) => expect(Math.abs(value - train.x[i])).toBeLessThanOrEqual(0.5 / 255 + 1e-6));
  heldOut.x.forEach((value, i) => expect(Math.abs(value - test.x[i])).toBeLessThanOrEqual(0.5 / 255 + 1e-6));
});

it('softmax gives probabilities that sum to 1, even for large logits', () => {
  const probabilities = softmax(new Float32Array([1000, 1001, 999, -5]));
  expect(probabilities.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 12);
  expect(probabilities[1]).toBeCloseTo(Math.exp(1) / (1 + Math.exp(1) + Math.exp(-1) + Math.exp(-1006)), 12);
});

it('LeNet-5 has its 61,706 parameters and reads a 28×28 image into 10 logits', () => {
  const model = lenet5({ seed: 1, backend: 'js' });
  expect(model.parameterCount).toBe(61_706);
  expect(model.namedParameters().map(({ name }) => name)).toEqual(
    ['conv1.weight', 'conv1.bias', 'conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'fc3.weight', 'fc3.bias']);
  expect((model.predict(new Float32Array(2 * 784)) as Float32Array).length).toBe(20);
  model.dispose();
});

it('shifts move each image whole by at most the shift asked, every shift in the range turning up', () => {
  // 200 images of noise with a blank border 2 pixels wide, so that a shift of 2 loses nothing and can be
  // read back from the centre of mass.
  const rng = new Rng(3);
  const images = new Float32Array(200 * 784);
  images.forEach((_, i) => {
    const [y, x] = [Math.floor(i / SIDE) % SIDE, i % SIDE];
    if (y >= 2 && y < SIDE - 2 && x >= 2 && x < SIDE - 2) images[i] = rng.uniform();
  });
  const shifted = new Float32Array(images.length);
  shiftImages(images, shifted, 2, new Rng(4));
  const seen = new Set<string>();
  for (let start = 0; start < images.length; start += 784) {
    const source = images.subarray(start, start + 784);
    const target = shifted.subarray(start, start + 784);
    const [sx, sy] = centreOfMass(source);
    const [tx, ty] = centreOfMass(target);
    const [right, down] = [Math.round(tx - sx), Math.round(ty - sy)];
    expect(Math.abs(right)).toBeLessThanOrEqual(2);
    expect(Math.abs(down)).toBeLessThanOrEqual(2);
    seen.add(`${right},${down}`);
    for (let y = 0; y < SIDE; y++) {
      for (let x = 0; x < SIDE; x++) {
        const [fromY, fromX] = [y - down, x - right];
        const inside = fromY >= 0 && fromY < SIDE && fromX >= 0 && fromX < SIDE;
        expect(target[y * SIDE + x]).toBe(inside ? source[fromY * SIDE + fromX] : 0);
      }
    }
  }
  // 200 images over 25 shifts: each turns up with probability 1 − (24/25)^200 ≈ 1 − 3e-4.
  expect(seen.size).toBe(25);
});

it('the confusion matrix counts each row under its actual class and the logits\' argmax', () => {
  const logits = new Float32Array([
    5, 1, 0, // 0, predicted 0
    0, 2, 1, // 1, predicted 1
    0, 3, 1, // 2, predicted 1
    1, 0, 4, // 2, predicted 2
    9, 0, 0, // 1, predicted 0
  ]);
  const counts = confusionMatrix(logits, new Int32Array([0, 1, 2, 2, 1]), 3);
  expect(Array.from(counts)).toEqual([1, 0, 0, 1, 1, 0, 0, 1, 1]);
  const table = formatConfusionMatrix(counts, 3).split('\n');
  expect(table).toHaveLength(4);
  expect(table[0]).toMatch(/^actual \\ predicted\s+0\s+1\s+2$/);
  expect(table[3].trim().split(/\s+/)).toEqual(['2', '0', '1', '1']);
});

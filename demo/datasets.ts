// The playground's 2-D data sets, made in the page from a seed: x is rows × 2 (row-major) with points
// in about [-1, 1]², y is rows labels of 0 or 1, half of each.
import { Rng } from '../src/index.js';

export const DATASETS = ['blobs', 'circles', 'xor', 'spiral'] as const;
export type DatasetName = (typeof DATASETS)[number];

export interface Points {
  x: Float32Array;
  y: Float32Array;
}

// Where a generator puts a point of class `label` (the `index`-th of `perClass`) before noise.
type Place = (rng: Rng, label: number, index: number, perClass: number) => [number, number];

const PLACES: Record<DatasetName, Place> = {
  // Two normal blobs on the diagonal, as far apart as their spread.
  blobs(rng, label) {
    const center = label === 1 ? 0.45 : -0.45;
    return [center + 0.15 * rng.normal(), center + 0.15 * rng.normal()];
  },
  // A disc (label 1) inside a ring (label 0), a gap between them.
  circles(rng, label) {
    const radius = label === 1 ? 0.4 * rng.uniform() : 0.6 + 0.35 * rng.uniform();
    const angle = 2 * Math.PI * rng.uniform();
    return [radius * Math.sin(angle), radius * Math.cos(angle)];
  },
  // Quadrants: label 1 where both coordinates have the same sign. Points are pushed off the axes,
  // so that without noise every point is on the right side of the boundary by a margin.
  xor(rng, label) {
    const apart = (): number => 0.05 + 0.9 * rng.uniform();
    const first = rng.uniform() < 0.5 ? -1 : 1;
    const second = label === 1 ? first : -first;
    return [first * apart(), second * apart()];
  },
  // Two interleaved arms of 1.75 turns each, the second turned half a turn from the first.
  spiral(_rng, label, index, perClass) {
    const radius = (0.95 * index) / perClass;
    const angle = 1.75 * 2 * Math.PI * (index / perClass) + (label === 1 ? Math.PI : 0);
    return [radius * Math.sin(angle), radius * Math.cos(angle)];
  },
};

/** `rows` points (half of each label, alternating) of the named set, each coordinate plus normal noise of std `noise`. */
export function makeDataset(name: DatasetName, rows: number, noise: number, seed: number): Points {
  const rng = new Rng(seed);
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows);
  const perClass = Math.ceil(rows / 2);
  for (let r = 0; r < rows; r++) {
    const label = r % 2;
    const [first, second] = PLACES[name](rng, label, r >> 1, perClass);
    x[2 * r] = first + noise * rng.normal();
    x[2 * r + 1] = second + noise * rng.normal();
    y[r] = label;
  }
  return { x, y };
}

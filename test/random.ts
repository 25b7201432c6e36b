// Seeded test data: a small PRNG (mulberry32 seeded by an FNV-1a hash of a case name), so both
// backends, and every rerun, see the same values.

export type Random = () => number;

/** A uniform [0, 1) generator whose stream is fixed by `caseName`. */
export function createRandom(caseName: string): Random {
  let state = 0x811c9dc5;
  for (let i = 0; i < caseName.length; i++) state = Math.imul(state ^ caseName.charCodeAt(i), 0x01000193);
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `length` values of magnitude about `scale`: mostly uniform in (−scale, scale), one in ten an
 * exact zero and one in ten large (±4 to ±8 times scale).
 */
export function mixedValues(random: Random, length: number, scale = 1): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const kind = random();
    if (kind < 0.1) values[i] = 0;
    else if (kind < 0.2) values[i] = (random() < 0.5 ? -scale : scale) * (4 + 4 * random());
    else values[i] = scale * (2 * random() - 1);
  }
  return values;
}

/** `length` values in [0, 1], with one in ten exactly 0 and one in ten exactly 1. */
export function unitValues(random: Random, length: number): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    const kind = random();
    values[i] = kind < 0.1 ? 0 : kind < 0.2 ? 1 : random();
  }
  return values;
}

/** One class label in [0, classes) per row. */
export function randomLabels(random: Random, rows: number, classes: number): Int32Array {
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) labels[i] = Math.floor(random() * classes);
  return labels;
}

/**
 * Makes rows × cols values in [0, 1] into soft target rows in place: each row a probability
 * distribution, every third row one-hot (the label drawn from `random`).
 */
export function toTargetRows(targets: Float32Array, random: Random, rows: number, cols: number): Float32Array {
  for (let r = 0; r < rows; r++) {
    const row = targets.subarray(r * cols, (r + 1) * cols);
    if (r % 3 === 2) row.fill(0)[Math.floor(random() * cols)] = 1;
    const sum = row.reduce((total, value) => total + value, 0);
    if (sum === 0) row[0] = 1;
    else row.forEach((value, j) => (row[j] = value / sum));
  }
  return targets;
}

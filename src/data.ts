// Checking and copying user matrices and targets into the arena: every check names the argument,
// what was expected and what came, and runs before anything the model keeps is touched.
import { SimdpropError, describe } from './errors.js';

/** A batch of rows: row-major Float32Array (rows × width) or an array of rows. */
export type Matrix = Float32Array | ArrayLike<number>[];
/** Class indices (Int32Array or number[]) or target rows shaped like the output. */
export type Targets = Float32Array | Int32Array | number[] | ArrayLike<number>[];

/**
 * How many rows x holds, having checked its type and that every row is `width` wide. `shape` is a
 * sample's shape where it has several axes (an image's [height, width, channels]), for the message.
 */
export function matrixRows(x: unknown, width: number, what: string, shape?: readonly number[]): number {
  let rows: number;
  if (x instanceof Float32Array) {
    if (x.length % width !== 0) {
      const rowsOf = shape !== undefined && shape.length > 1 ? `samples of [${shape.join(', ')}] (${width} values each)` : `rows of ${width} features`;
      throw new SimdpropError('SHAPE',
        `${what} must hold whole ${rowsOf}: got a Float32Array of length ${x.length}, which is not a multiple of ${width}`);
    }
    rows = x.length / width;
  } else if (Array.isArray(x)) {
    rows = x.length;
    for (let r = 0; r < rows; r++) {
      const row: unknown = x[r];
      if (!Array.isArray(row) && !(row instanceof Float32Array) && !(row instanceof Float64Array)) {
        throw new SimdpropError('TYPE', `${what}[${r}] must be an array of ${width} numbers, got ${describe(row)}`);
      }
      if (row.length !== width) {
        throw new SimdpropError('SHAPE', `${what}[${r}] must have ${width} features, got ${row.length}`);
      }
    }
  } else {
    throw new SimdpropError('TYPE',
      `${what} must be a Float32Array (rows × ${width}, row-major) or an array of rows, got ${describe(x)}`);
  }
  if (rows === 0) throw new SimdpropError('EMPTY_BATCH', `${what} is an empty batch: it must have at least one row`);
  return rows;
}

/** Copies a checked matrix to f32[index …]; array rows are checked for non-numbers as they are copied. */
export function writeMatrix(f32: Float32Array, index: number, x: Matrix, width: number, what: string): void {
  if (x instanceof Float32Array) {
    f32.set(x, index);
    return;
  }
  for (let r = 0; r < x.length; r++) {
    const row = x[r];
    const start = index + r * width;
    for (let c = 0; c < width; c++) {
      const value = row[c];
      if (typeof value !== 'number') {
        throw new SimdpropError('TYPE', `${what}[${r}][${c}] must be a number, got ${describe(value)}`);
      }
      f32[start + c] = value;
    }
  }
}

/** The first non-finite element of f32[index … index + n), described for an error message. */
export function nonFiniteError(f32: Float32Array, index: number, n: number, width: number, what: string): SimdpropError {
  let at = 0;
  while (at < n && Number.isFinite(f32[index + at])) at++;
  const row = Math.floor(at / width);
  return new SimdpropError('NOT_FINITE',
    `${what} holds ${f32[index + at]} at row ${row}, column ${at - row * width}: inputs and targets must be finite`);
}

/** Whether the targets are class indices (one per row) rather than rows of the output's width. */
export function targetsAreLabels(y: unknown): boolean {
  return y instanceof Int32Array || (Array.isArray(y) && (y.length === 0 || typeof y[0] === 'number'));
}

/**
 * Checks class labels (one integer in [0, classes) per row) and writes them to i32[index …].
 * `rows` is the batch they must match.
 */
export function writeLabels(i32: Int32Array, index: number, y: Int32Array | number[], rows: number, classes: number, what: string): void {
  if (y.length !== rows) {
    throw new SimdpropError('SHAPE', `${what} must hold one class label per row: expected ${rows}, got ${y.length}`);
  }
  for (let r = 0; r < rows; r++) {
    const label = y[r];
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= classes) {
      throw new SimdpropError('LABEL',
        `${what}[${r}] is ${describe(label)}: class labels must be integers in [0, ${classes - 1}]`);
    }
  }
  i32.set(y, index);
}

/**
 * Checks float targets shaped like the output (rows × width; a flat number[] or Int32Array when
 * width is 1) and writes them to f32[index …]. Probability targets must lie in [0, 1].
 */
export function writeTargets(
  f32: Float32Array, index: number, y: Targets, rows: number, width: number, probabilities: boolean, what: string,
): void {
  copyTargets(f32, index, y, rows, width, what);
  checkTargetValues(f32, index, rows * width, width, probabilities, what);
}

/** writeTargets without the check of the values: the shape and type checks and the copy. */
export function copyTargets(f32: Float32Array, index: number, y: Targets, rows: number, width: number, what: string): void {
  if ((y instanceof Int32Array || (Array.isArray(y) && typeof y[0] === 'number')) && width === 1) {
    const flat = y as ArrayLike<number>;
    if (flat.length !== rows) throw new SimdpropError('SHAPE', `${what} must hold ${rows} targets, got ${flat.length}`);
    for (let r = 0; r < rows; r++) {
      if (typeof flat[r] !== 'number') throw new SimdpropError('TYPE', `${what}[${r}] must be a number, got ${describe(flat[r])}`);
      f32[index + r] = flat[r];
    }
  } else {
    const got = matrixRows(y, width, what);
    if (got !== rows) throw new SimdpropError('SHAPE', `${what} must have ${rows} rows (one per input row), got ${got}`);
    writeMatrix(f32, index, y as Matrix, width, what);
  }
}

/** Throws, naming the first offender, unless f32[index …+n) is finite (and in [0, 1] for probabilities). */
export function checkTargetValues(f32: Float32Array, index: number, n: number, width: number, probabilities: boolean, what: string): void {
  for (let i = 0; i < n; i++) {
    const value = f32[index + i];
    if (!Number.isFinite(value)) throw nonFiniteError(f32, index, n, width, what);
    if (probabilities && (value < 0 || value > 1)) {
      const row = Math.floor(i / width);
      throw new SimdpropError('TARGET',
        `${what} holds ${value} at row ${row}, column ${i - row * width}: this loss needs targets in [0, 1]`);
    }
  }
}

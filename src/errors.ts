// One error type for every problem simdprop reports, with a code a program can branch on.

export type ErrorCode =
  | 'SHAPE' // a matrix of the wrong width, length or row count
  | 'EMPTY_BATCH' // a batch of zero rows
  | 'TYPE' // an argument of the wrong kind (e.g. a Float64Array where a Float32Array is expected)
  | 'NOT_FINITE' // NaN or ±Infinity in inputs or targets
  | 'LABEL' // a class label that is not an integer in [0, classes)
  | 'TARGET' // a target outside what the loss accepts (e.g. not in [0, 1] for BCE)
  | 'UNKNOWN_NAME' // an activation, loss or backend name simdprop does not know
  | 'OPTION' // a bad hyper-parameter or option value
  | 'DISPOSED' // a model used after dispose()
  | 'ORDER' // calls out of order (loss before forward, backward before loss)
  | 'BACKEND' // a backend that is not loaded, or a model and optimizer on different backends
  | 'FILE' // a model file that is corrupt, truncated, or does not fit the model
  | 'MEMORY' // more memory than the backend's linear memory can grow to (4 GiB for wasm32)
  | 'GRAPH'; // a model whose graph does not hold together: an input not in it, a name used twice

export class SimdpropError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(`simdprop: ${message}`);
    this.name = 'SimdpropError';
  }
}

/** Names a value for an error message: its type, and its length for arrays. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<number>).length}`;
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  if (typeof value === 'string') return `"${value}"`;
  return `${typeof value} ${String(value)}`;
}

// The safetensors format: an 8-byte little-endian header length, a JSON header naming each tensor's
// dtype, shape and byte range, then the raw little-endian data. Reading checks every field before
// anything is allocated for the data, so a corrupt or hostile file fails with a named error.
import { SimdpropError, describe } from '../errors.js';

/** A float32 tensor, or an int64 one (PyTorch's counters, such as batch norm's num_batches_tracked). */
export type TensorEntry =
  | { dtype: 'F32'; shape: number[]; data: Float32Array }
  | { dtype: 'I64'; shape: number[]; data: BigInt64Array };

/** Largest header simdprop reads: far above any real model's, far below a memory exhaustion. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Writes tensors (in the given order) and string metadata as safetensors bytes. */
export function writeSafetensors(tensors: [string, TensorEntry][], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const bytes = tensor.data.length * tensor.data.BYTES_PER_ELEMENT;
    header[name] = { dtype: tensor.dtype, shape: tensor.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  // The header is padded with spaces to a multiple of 8 bytes, so the data is aligned for any dtype.
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(padded - json.length));
  const result = new Uint8Array(8 + json.length + offset);
  const view = new DataView(result.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  result.set(json, 8);
  const dataView = new DataView(result.buffer, 8 + json.length);
  let at = 0;
  for (const [, tensor] of tensors) {
    if (tensor.dtype === 'I64') {
      for (let i = 0; i < tensor.data.length; i++, at += 8) dataView.setBigInt64(at, tensor.data[i], true);
    } else {
      for (let i = 0; i < tensor.data.length; i++, at += 4) dataView.setFloat32(at, tensor.data[i], true);
    }
  }
  return result;
}

export interface ParsedFile {
  metadata: Record<string, string>;
  tensors: Map<string, { dtype: string; shape: number[]; begin: number; end: number }>;
  /** The data section: offsets in `tensors` are relative to it. */
  data: Uint8Array;
}

function corrupt(message: string): SimdpropError {
  return new SimdpropError('FILE', `not a valid safetensors file: ${message}`);
}

/** Parses and checks the header; the data is not copied. */
export function parseSafetensors(bytes: unknown): ParsedFile {
  if (!(bytes instanceof Uint8Array)) {
    throw new SimdpropError('TYPE', `a model file must be a Uint8Array (e.g. a Node Buffer), got ${describe(bytes)}`);
  }
  if (bytes.length < 8) throw corrupt(`${bytes.length} bytes is too short to hold the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(bytes.length - 8, MAX_HEADER_BYTES))) {
    throw corrupt(`the header claims ${headerLength} bytes but the file has ${bytes.length - 8} after the length`);
  }
  const jsonBytes = bytes.subarray(8, 8 + Number(headerLength));
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(jsonBytes));
  } catch (error) {
    throw corrupt(`the header is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw corrupt('the header is not a JSON object');
  const data = bytes.subarray(8 + Number(headerLength));
  const metadata: Record<string, string> = {};
  const tensors: ParsedFile['tensors'] = new Map();
  const ranges: [number, number, string][] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) throw corrupt('__metadata__ is not an object');
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value !== 'string') throw corrupt(`__metadata__.${key} is not a string`);
        metadata[key] = value;
      }
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as Record<string, unknown>;
    if (typeof dtype !== 'string') throw corrupt(`tensor "${name}" has no dtype`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw corrupt(`tensor "${name}" has a bad shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw corrupt(`tensor "${name}" has bad data_offsets`);
    }
    const [begin, end] = offsets as number[];
    if (end < begin || end > data.length) {
      throw corrupt(`tensor "${name}" spans bytes ${begin}–${end} of a ${data.length}-byte data section`);
    }
    tensors.set(name, { dtype, shape: shape as number[], begin, end });
    if (end > begin) ranges.push([begin, end, name]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) throw corrupt(`tensors "${ranges[i - 1][2]}" and "${ranges[i][2]}" overlap`);
  }
  return { metadata, tensors, data };
}

/** Reads a float32 tensor of the parsed file, checking its dtype, shape and byte count. */
export function readTensor(file: ParsedFile, name: string, shape: readonly number[]): Float32Array {
  const view = tensorBytes(file, name, shape, 'F32', 'simdprop reads F32 (convert with tensor.float() before saving)');
  const values = new Float32Array(view.byteLength / 4);
  for (let i = 0; i < values.length; i++) values[i] = view.getFloat32(i * 4, true);
  return values;
}

/** Reads an int64 tensor of the parsed file (PyTorch's num_batches_tracked), exactly, checking its dtype, shape and byte count. */
export function readInt64Tensor(file: ParsedFile, name: string, shape: readonly number[]): BigInt64Array {
  const view = tensorBytes(file, name, shape, 'I64', 'this tensor is a counter, which PyTorch keeps as int64');
  const values = new BigInt64Array(view.byteLength / 8);
  for (let i = 0; i < values.length; i++) values[i] = view.getBigInt64(i * 8, true);
  return values;
}

// The bytes of a tensor of this dtype and shape; a FILE error saying what is wrong otherwise.
function tensorBytes(file: ParsedFile, name: string, shape: readonly number[], dtype: 'F32' | 'I64', advice: string): DataView {
  const entry = file.tensors.get(name);
  if (!entry) throw new SimdpropError('FILE', `the model file has no tensor "${name}" (it has: ${[...file.tensors.keys()].join(', ') || 'none'})`);
  if (entry.dtype !== dtype) throw new SimdpropError('FILE', `tensor "${name}" is ${entry.dtype}: ${advice}`);
  if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i])) {
    throw new SimdpropError('FILE', `tensor "${name}" has shape [${entry.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === 'I64' ? 8 : 4);
  if (entry.end - entry.begin !== bytes) {
    throw new SimdpropError('FILE', `tensor "${name}" holds ${entry.end - entry.begin} bytes, expected ${bytes} for its shape`);
  }
  return new DataView(file.data.buffer, file.data.byteOffset + entry.begin, bytes);
}

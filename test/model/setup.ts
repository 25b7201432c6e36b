// Shared set-up for model tests: both backends loaded, small seeded data sets, snapshots of a model's state.
import { getBackend, init, Rng, type BackendName, type Sequential } from '../../src/index.js';

export const BACKENDS: readonly BackendName[] = ['wasm', 'js'];

export async function loadBackends(): Promise<void> {
  await init();
  getBackend('js');
}

/** rows × width standard-normal values from a seed. */
export function normalMatrix(rows: number, width: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const values = new Float32Array(rows * width);
  for (let i = 0; i < values.length; i++) values[i] = rng.normal() * scale;
  return values;
}

export function randomLabels(rows: number, classes: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const labels = new Int32Array(rows);
  for (let r = 0; r < rows; r++) labels[r] = rng.below(classes);
  return labels;
}

/** rows × width values uniform in (0, 1). */
export function probabilityMatrix(rows: number, width: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const values = new Float32Array(rows * width);
  for (let i = 0; i < values.length; i++) values[i] = 0.05 + 0.9 * rng.uniform();
  return values;
}

/** A copy of every parameter, gradient and optimizer-state float the model keeps. */
export function snapshot(model: Sequential): Float32Array {
  const start = model.paramsPointer >> 2;
  return model.backend.heap.f32.slice(start, start + (2 + model.stateSlotCount) * model.sectionFloats);
}

/** Whether two float arrays hold the same bits (NaN payloads aside). */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ai = new Int32Array(a.buffer, a.byteOffset, a.length);
  const bi = new Int32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ai.length; i++) if (ai[i] !== bi[i]) return false;
  return true;
}

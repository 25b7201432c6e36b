// Model files on disk, for Node (and Deno and Bun): save() and loadModel() with a path.
import type { Model } from '../graph/model.js';
import { loadModel, type AnyLoadOptions } from './load.js';

/** Writes model.save() to `path` (conventionally *.safetensors). */
export async function saveModelFile(model: { save(): Uint8Array }, path: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, model.save());
}

/** The model in the file at `path` (loadModel: a Model for a graph's file, a Sequential for a stack's). */
export async function loadModelFile(path: string, options?: AnyLoadOptions): Promise<Model> {
  const { readFile } = await import('node:fs/promises');
  return loadModel(await readFile(path), options);
}

// Model files on disk, for Node (and Deno and Bun): save() and Sequential.load() with a path.
import { Sequential } from '../sequential.js';
import type { LoadOptions } from './sequential-file.js';

/** Writes model.save() to `path` (conventionally *.safetensors). */
export async function saveModelFile(model: { save(): Uint8Array }, path: string): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  await writeFile(path, model.save());
}

/** Sequential.load() of the file at `path`. */
export async function loadModelFile(path: string, options?: LoadOptions): Promise<Sequential> {
  const { readFile } = await import('node:fs/promises');
  return Sequential.load(await readFile(path), options);
}

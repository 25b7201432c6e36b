// Loading a model file of either kind: a graph (Model.save()) or a stack (Sequential.save(), or a
// PyTorch nn.Sequential state_dict), told apart by the file's metadata.
import type { BackendName } from '../backend/backend.js';
import { Model } from '../graph/model.js';
import type { LayerFactories } from '../layers/registry.js';
import { Sequential } from '../sequential.js';
import { parseSafetensors } from './safetensors.js';
import type { LoadOptions } from './sequential-file.js';

export interface AnyLoadOptions extends LoadOptions {
  backend?: BackendName;
  /** Factories for custom layers, by the kind they were saved under. */
  layers?: LayerFactories;
}

/** The model a file holds: a Model for a graph's file, a Sequential for a stack's (or a PyTorch nn.Sequential's). */
export function loadModel(bytes: Uint8Array, options: AnyLoadOptions = {}): Model {
  const file = parseSafetensors(bytes);
  if (file.metadata.graph !== undefined) return Model.load(bytes, options);
  return Sequential.load(bytes, options);
}

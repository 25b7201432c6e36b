// What the PyTorch comparisons share: a parameter's values in PyTorch's layout.
import { toTorch } from '../../src/graph/serialize.js';
import type { Model } from '../../src/index.js';

/** A parameter's values (or gradient) in PyTorch's layout (a dense weight [in, out] is [out, in] there). */
export function torchLayout(model: Model, name: string, values: Float32Array): Float32Array {
  const parameter = model.plan.parameters.find((p) => p.name === name)!;
  return toTorch(values, parameter.shape, parameter.torch);
}

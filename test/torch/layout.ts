// What the PyTorch comparisons share: a parameter's values in PyTorch's layout.
import type { Model } from '../../src/index.js';

/** A parameter's values (or gradient) in PyTorch's layout: simdprop keeps a dense weight [in, out]. */
export function torchLayout(model: Model, name: string, values: Float32Array): Float32Array {
  const parameter = model.plan.parameters.find((p) => p.name === name)!;
  if (!parameter.torch?.transposed) return values;
  const [rows, cols] = parameter.shape;
  const result = new Float32Array(values.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) result[c * rows + r] = values[r * cols + c];
  return result;
}

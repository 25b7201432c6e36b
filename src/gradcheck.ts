// Gradient check: the gradients backward() computes against central differences of the loss.
// By default the differences come from a float64 run of the same network (the JS twins over a
// Float64Array copy of the model's block), so they are accurate to ~1e-10 and any disagreement
// beyond float32 rounding is a bug in a backward rule or a kernel.
import { bindTwins } from './backend/generated/kernels.js';
import { SimdpropError, describe } from './errors.js';
import type { Inputs, LossCallOptions, LossSpec, Model, TargetsFor } from './graph/model.js';

export interface GradCheckOptions extends LossCallOptions {
  loss: LossSpec;
  /** Step of the central difference (default 1e-6 in float64, 1e-2 in float32). */
  eps?: number;
  /** Largest relative error that passes (default 1e-3 in float64, 5e-2 in float32). */
  tolerance?: number;
  /**
   * 'float64' (default): differences from a float64 forward of the same network. 'float32': from
   * the model's own backend, which checks the kernels end to end but is only good to about 1e-2.
   */
  precision?: 'float64' | 'float32';
}

export interface ParameterCheck {
  name: string;
  shape: readonly number[];
  /** Worst relative error over the tensor (see GradCheckResult). */
  maxRelativeError: number;
  /** Index (flat, row-major) of the worst element, with both gradients there. */
  worstIndex: number;
  analytical: number;
  numerical: number;
  /** Largest |gradient| in the tensor (numerical): how much there was to check. */
  largestGradient: number;
  passed: boolean;
}

export interface GradCheckResult {
  passed: boolean;
  /** Worst relative error over all parameters. */
  maxRelativeError: number;
  parameters: ParameterCheck[];
  eps: number;
  tolerance: number;
  precision: 'float64' | 'float32';
  /** The loss at the unperturbed parameters, in the precision of the check. */
  loss: number;
  warnings: string[];
}

/**
 * The relative error of one element is |a − n| / max(|a|, |n|, 1e-2·max|n| over its tensor, 1e-7):
 * elements far smaller than their tensor's largest gradient are held to an absolute error instead,
 * since float32 sums of terms of the tensor's scale carry an error of about 1e-7 of that scale.
 */
function relativeError(analytical: number, numerical: number, floor: number): number {
  return Math.abs(analytical - numerical) / Math.max(Math.abs(analytical), Math.abs(numerical), floor, 1e-7);
}

export function gradCheck(model: Model, x: Inputs, y: TargetsFor, options: GradCheckOptions): GradCheckResult {
  model.useLosses(options?.loss, options);
  const precision = options.precision ?? 'float64';
  if (precision !== 'float64' && precision !== 'float32') {
    throw new SimdpropError('OPTION', `precision must be 'float64' or 'float32', got ${describe(precision)}`);
  }
  const eps = options.eps ?? (precision === 'float64' ? 1e-6 : 1e-2);
  const tolerance = options.tolerance ?? (precision === 'float64' ? 1e-3 : 5e-2);
  if (!(eps > 0 && Number.isFinite(eps))) throw new SimdpropError('OPTION', `eps must be a positive number, got ${describe(eps)}`);
  const warnings: string[] = [];
  if (precision === 'float32' && eps < 1e-3) {
    warnings.push(`eps ${eps} is too small for float32: the loss changes by less than its own rounding ` +
      `(about 1e-7 of its size), so the differences are mostly noise; use eps ≥ 1e-3 or precision 'float64'`);
  }
  if (precision === 'float64' && (eps < 1e-9 || eps > 1e-3)) {
    warnings.push(`eps ${eps} is outside [1e-9, 1e-3]: below, float64 rounding dominates the differences; above, truncation does`);
  }
  for (const warning of warnings) console.warn(`simdprop gradCheck: ${warning}`);

  const { kernels, heap } = model.backend;
  const sectionFloats = model.sectionFloats;
  // Analytical gradients, computed from zero; the caller's accumulated gradients are put back after.
  const savedGrads = heap.f32.slice(model.gradsPointer >> 2, (model.gradsPointer >> 2) + sectionFloats);
  model.zeroGrad();
  model.forward(x);
  model.loss(options.loss, y, options);
  model.backward();
  const analytical = Float64Array.from(heap.f32.subarray(model.gradsPointer >> 2, (model.gradsPointer >> 2) + sectionFloats));
  heap.f32.set(savedGrads, model.gradsPointer >> 2);
  // The input and targets regions still hold x and y from the analytical pass, and the dropout masks
  // its forward drew, which every evaluation below uses again.
  const rows = model.lastBatch;

  // A float64 copy of the block at byte offset 64 (offset 0 would read as "no bias").
  const base = 64;
  const blockFloats = model.blockBytes >> 2;
  let parameterFloats: Float32Array | Float64Array = heap.f32;
  let evaluate: () => number;
  let paramsIndex: number;
  if (precision === 'float64') {
    const floats = new Float64Array((base >> 2) + blockFloats);
    floats.set(heap.f32.subarray(model.paramsPointer >> 2, (model.paramsPointer >> 2) + blockFloats), base >> 2);
    const ints = new Int32Array(floats.length);
    ints.set(heap.i32.subarray(model.paramsPointer >> 2, (model.paramsPointer >> 2) + blockFloats), base >> 2);
    const twins = bindTwins(() => floats, () => ints);
    parameterFloats = floats;
    paramsIndex = base >> 2;
    const at = model.pointers(base, () => floats as unknown as Float32Array);
    evaluate = () => {
      model.runForward(twins, at, rows);
      return model.runLosses(twins, at, rows);
    };
  } else {
    paramsIndex = model.paramsPointer >> 2;
    evaluate = () => {
      model.runForward(kernels, model.at, rows);
      return model.runLosses(kernels, model.at, rows);
    };
  }
  const parameters: ParameterCheck[] = [];
  model.random.reuse = true;
  // Each evaluation in training mode moves batch norm's running statistics: in float32 they are the
  // model's own, so they are put back as the analytical forward left them.
  const buffers = model.buffersPointer >> 2;
  const savedBuffers = heap.f32.slice(buffers, buffers + model.bufferFloats);
  let lossAtParameters: number;
  try {
    lossAtParameters = evaluate();
    for (const parameter of model.namedParameters()) parameters.push(checkParameter(parameter));
  } finally {
    model.random.reuse = false;
    heap.f32.set(savedBuffers, buffers);
  }

  function checkParameter(parameter: ReturnType<Model['namedParameters']>[number]): ParameterCheck {
    const start = paramsIndex + ((parameter.value.byteOffset - model.paramsPointer) >> 2);
    const count = parameter.value.length;
    const numerical = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      if (precision === 'float32') parameterFloats = heap.f32;
      const original = parameterFloats[start + i];
      parameterFloats[start + i] = original + eps;
      const plus = evaluate();
      parameterFloats[start + i] = original - eps;
      const minus = evaluate();
      parameterFloats[start + i] = original;
      // In float32 the perturbed value is rounded: divide by the step actually taken.
      const step = precision === 'float32' ? Math.fround(original + eps) - Math.fround(original - eps) : 2 * eps;
      numerical[i] = (plus - minus) / step;
    }
    const gradStart = (parameter.grad.byteOffset - model.gradsPointer) >> 2;
    let largest = 0;
    for (let i = 0; i < count; i++) largest = Math.max(largest, Math.abs(numerical[i]));
    let worst = 0;
    let worstIndex = 0;
    for (let i = 0; i < count; i++) {
      const error = relativeError(analytical[gradStart + i], numerical[i], 1e-2 * largest);
      if (error > worst || Number.isNaN(error)) {
        worst = error;
        worstIndex = i;
      }
    }
    return {
      name: parameter.name, shape: parameter.shape, maxRelativeError: worst, worstIndex,
      analytical: analytical[gradStart + worstIndex], numerical: numerical[worstIndex], largestGradient: largest,
      passed: worst <= tolerance,
    };
  }
  if (precision === 'float32') model.forward(x);
  const maxRelativeError = parameters.reduce((most, p) => Math.max(most, p.maxRelativeError), 0);
  return {
    passed: parameters.every((p) => p.passed), maxRelativeError, parameters, eps, tolerance, precision,
    loss: lossAtParameters, warnings,
  };
}

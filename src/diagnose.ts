// The training doctor: per-layer health from one forward and backward — gradient norms against weight
// norms (vanishing or exploding), dead ReLUs, saturated sigmoids and tanhs — and warnings that name
// the likely cause. The model's parameters and accumulated gradients are left as they were.
import type { Matrix, Targets } from './data.js';
import type { LossName, LossOptions } from './losses.js';
import type { Sequential } from './sequential.js';
import type { Callback } from './train/callbacks.js';

export interface LayerHealth {
  layer: number;
  activation: string;
  weightNorm: number;
  gradNorm: number;
  /** gradNorm / weightNorm: below 1e-6 the layer barely learns (vanishing), above 10 it explodes. */
  ratio: number;
  /** relu-family layers: the fraction of units that are zero (or negative, for leakyRelu) for every row. */
  deadFraction?: number;
  /** sigmoid/tanh layers: the fraction of outputs within 1% of the limits, where gradients vanish. */
  saturatedFraction?: number;
}

export interface Diagnosis {
  loss: number;
  layers: LayerHealth[];
  warnings: string[];
}

const VANISHING = 1e-6;
const EXPLODING = 10;
const DEAD = 0.5;
const SATURATED = 0.5;

// Health of each layer from the activations and gradients the model holds now (after a backward).
function healthNow(model: Sequential): { layers: LayerHealth[]; warnings: string[] } {
  const { kernels } = model.backend;
  const parameters = model.namedParameters();
  const views = model.inspect();
  const warnings: string[] = [];
  const layers = model.layers.map((layer, i): LayerHealth => {
    const weight = parameters.find((p) => p.name === `layers.${i}.weight`)!;
    const weightNorm = Math.sqrt(kernels.sum_squares(weight.value.byteOffset, weight.size));
    const gradNorm = Math.sqrt(kernels.sum_squares(weight.grad.byteOffset, weight.size));
    const ratio = weightNorm === 0 ? Infinity : gradNorm / weightNorm;
    const health: LayerHealth = { layer: i, activation: layer.activation, weightNorm, gradNorm, ratio };
    const a = views[i].a;
    const rows = a.length / layer.outputSize;
    if (layer.activation === 'relu' || layer.activation === 'leakyRelu') {
      const z = views[i].z;
      let dead = 0;
      for (let unit = 0; unit < layer.outputSize; unit++) {
        let alive = false;
        for (let r = 0; r < rows && !alive; r++) alive = z[r * layer.outputSize + unit] > 0;
        if (!alive) dead++;
      }
      health.deadFraction = dead / layer.outputSize;
      if (health.deadFraction > DEAD) {
        warnings.push(`layer ${i} (${layer.activation}): ${(100 * health.deadFraction).toFixed(0)}% of its units are dead (never positive on this batch): lower the learning rate, or try leakyRelu`);
      }
    }
    if (layer.activation === 'sigmoid' || layer.activation === 'tanh') {
      let saturated = 0;
      for (let j = 0; j < a.length; j++) {
        const value = a[j];
        if (layer.activation === 'sigmoid' ? value < 0.01 || value > 0.99 : Math.abs(value) > 0.99) saturated++;
      }
      health.saturatedFraction = saturated / a.length;
      if (health.saturatedFraction > SATURATED) {
        warnings.push(`layer ${i} (${layer.activation}): ${(100 * health.saturatedFraction).toFixed(0)}% of its outputs are saturated, where gradients vanish: scale the inputs, or lower the learning rate`);
      }
    }
    if (!Number.isFinite(gradNorm)) warnings.push(`layer ${i}: its weight gradient is not finite`);
    else if (ratio < VANISHING) warnings.push(`layer ${i}: gradients vanish (‖g‖/‖w‖ = ${ratio.toExponential(1)})`);
    else if (ratio > EXPLODING) warnings.push(`layer ${i}: gradients explode (‖g‖/‖w‖ = ${ratio.toExponential(1)}): clip them (clipNorm) or lower the learning rate`);
    return health;
  });
  return { layers, warnings };
}

/** One forward and backward on x, y, then each layer's health; parameters and gradients are restored. */
export function diagnose(model: Sequential, x: Matrix, y: Targets, options: { loss: LossName } & LossOptions): Diagnosis {
  const { heap } = model.backend;
  const grads = model.gradsPointer >> 2;
  const saved = heap.f32.slice(grads, grads + model.sectionFloats);
  model.zeroGrad();
  try {
    model.forward(x);
    const loss = model.loss(options.loss, y, options);
    model.backward();
    const { layers, warnings } = healthNow(model);
    const output = model.inspect()[model.layers.length - 1];
    let largest = 0;
    for (let j = 0; j < output.output.length; j++) largest = Math.max(largest, Math.abs(output.output[j]));
    if ((options.loss === 'softmaxCrossEntropy' || options.loss === 'bceWithLogits') && largest > 50) {
      warnings.push(`the logits reach ${largest.toPrecision(3)}: exp of values this large overflows float32 in naive code, and the loss is saturated; scale the inputs or lower the learning rate`);
    }
    return { loss, layers, warnings };
  } finally {
    heap.f32.set(saved, model.gradsPointer >> 2);
  }
}

/** A fit callback that checks each layer's health after every `every` epochs and reports warnings. */
export function doctor(options: { every?: number; report?: (epoch: number, warnings: string[], layers: LayerHealth[]) => void } = {}): Callback {
  const every = options.every ?? 1;
  const report = options.report ?? ((epoch, warnings) => warnings.forEach((warning) => console.warn(`simdprop doctor, epoch ${epoch + 1}: ${warning}`)));
  return {
    onEpochEnd(epoch, _logs, context) {
      if ((epoch + 1) % every !== 0) return;
      // The model still holds the last batch's activations and gradients.
      const { layers, warnings } = healthNow(context.model);
      report(epoch, warnings, layers);
    },
  };
}

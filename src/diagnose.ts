// The training doctor: per-layer health from one forward and backward — gradient norms against weight
// norms (vanishing or exploding), dead ReLUs, saturated sigmoids and tanhs — and warnings that name
// the likely cause. The model's parameters and accumulated gradients are left as they were.
import type { ActivationName } from './activations.js';
import type { Model, Inputs, TargetsFor, LossSpec } from './graph/model.js';
import type { LossOptions } from './losses.js';
import type { Callback } from './train/callbacks.js';

export interface LayerHealth {
  /** The layer's index in model.layers (a Sequential's dense layers), and its name. */
  layer: number;
  name: string;
  /** The activation its output ends with ('linear' for none). */
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

// Health of each layer with a weight, from the activations and gradients the model holds now (after a
// backward): its first application's output (and pre-activation) and its weight's gradient.
function healthNow(model: Model): { layers: LayerHealth[]; warnings: string[] } {
  const { kernels } = model.backend;
  const { plan } = model;
  const f32 = model.backend.heap.f32;
  const parameters = model.namedParameters();
  const rows = model.lastBatch;
  const warnings: string[] = [];
  const layers: LayerHealth[] = [];
  model.layers.forEach((layer, i) => {
    const index = plan.layerIndexOf(layer);
    const weightIndex = plan.layerParameters[index].find((p) => plan.parameters[p].tags.includes('weight'));
    if (weightIndex === undefined) return;
    const weight = parameters[weightIndex];
    const name = plan.layerNames[index];
    const node = plan.nodes.find((candidate) => candidate.layer === layer)!;
    const activation: ActivationName = (node.op as { activation?: ActivationName }).activation ?? 'linear';
    const weightNorm = Math.sqrt(kernels.sum_squares(weight.value.byteOffset, weight.size));
    const gradNorm = Math.sqrt(kernels.sum_squares(weight.grad.byteOffset, weight.size));
    const ratio = weightNorm === 0 ? Infinity : gradNorm / weightNorm;
    const label = model.layersLabel === 'dense layers' ? `layer ${i}` : `layer ${name}`;
    const health: LayerHealth = { layer: i, name, activation, weightNorm, gradNorm, ratio };
    const regions = model.nodeRegions(node.index);
    const shape = plan.tensors[node.output].type.shape;
    const units = shape[shape.length - 1];
    const count = rows * plan.tensors[node.output].size;
    const a = f32.subarray(regions.output >> 2, (regions.output >> 2) + count);
    if (activation === 'relu' || activation === 'leakyRelu') {
      // relu keeps z and a in one region; leakyRelu keeps z apart.
      const zAt = regions.saved.length > 0 ? regions.saved[0] : regions.output;
      const z = f32.subarray(zAt >> 2, (zAt >> 2) + count);
      const positions = count / units;
      let dead = 0;
      for (let unit = 0; unit < units; unit++) {
        let alive = false;
        for (let r = 0; r < positions && !alive; r++) alive = z[r * units + unit] > 0;
        if (!alive) dead++;
      }
      health.deadFraction = dead / units;
      if (health.deadFraction > DEAD) {
        warnings.push(`${label} (${activation}): ${(100 * health.deadFraction).toFixed(0)}% of its units are dead (never positive on this batch): lower the learning rate, or try leakyRelu`);
      }
    }
    if (activation === 'sigmoid' || activation === 'tanh') {
      let saturated = 0;
      for (let j = 0; j < a.length; j++) {
        const value = a[j];
        if (activation === 'sigmoid' ? value < 0.01 || value > 0.99 : Math.abs(value) > 0.99) saturated++;
      }
      health.saturatedFraction = saturated / a.length;
      if (health.saturatedFraction > SATURATED) {
        warnings.push(`${label} (${activation}): ${(100 * health.saturatedFraction).toFixed(0)}% of its outputs are saturated, where gradients vanish: scale the inputs, or lower the learning rate`);
      }
    }
    if (!Number.isFinite(gradNorm)) warnings.push(`${label}: its weight gradient is not finite`);
    else if (ratio < VANISHING) warnings.push(`${label}: gradients vanish (‖g‖/‖w‖ = ${ratio.toExponential(1)})`);
    else if (ratio > EXPLODING) warnings.push(`${label}: gradients explode (‖g‖/‖w‖ = ${ratio.toExponential(1)}): clip them (clipNorm) or lower the learning rate`);
    layers.push(health);
  });
  return { layers, warnings };
}

/** One forward and backward on x, y, then each layer's health; parameters and gradients are restored. */
export function diagnose(model: Model, x: Inputs, y: TargetsFor, options: { loss: LossSpec } & LossOptions): Diagnosis {
  const { heap } = model.backend;
  const grads = model.gradsPointer >> 2;
  const saved = heap.f32.slice(grads, grads + model.sectionFloats);
  model.zeroGrad();
  try {
    model.forward(x);
    const loss = model.loss(options.loss, y, options);
    model.backward();
    const { layers, warnings } = healthNow(model);
    model.outputNames.forEach((_, o) => {
      const kind = model.lossOf(o).kind;
      if (kind !== 'softmaxCrossEntropy' && kind !== 'bceWithLogits') return;
      const at = model.outputPointer(o) >> 2;
      const n = model.lastBatch * model.outputShape(o).reduce((p, d) => p * d, 1);
      let largest = 0;
      for (let j = 0; j < n; j++) largest = Math.max(largest, Math.abs(heap.f32[at + j]));
      if (largest > 50) {
        warnings.push(`the logits reach ${largest.toPrecision(3)}: exp of values this large overflows float32 in naive code, and the loss is saturated; scale the inputs or lower the learning rate`);
      }
    });
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
      const { layers, warnings } = healthNow(context.model as Model);
      report(epoch, warnings, layers);
    },
  };
}

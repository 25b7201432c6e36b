// Adam and AdamW (PyTorch's formulas) over the whole flat parameter block: params, grads and the two
// moment estimates share one layout. The moving averages are exported for rmsprop.ts too.
import { lane0 } from './vmath';

// decay·average + weight·x per lane.
@inline export function movingAverage(average: v128, x: v128, decays: v128, weights: v128): v128 {
  return f32x4.add(f32x4.mul(decays, average), f32x4.mul(weights, x));
}

// decay·average + (weight·x)·x per lane: PyTorch's addcmul order.
@inline export function movingAverageOfSquares(average: v128, x: v128, decays: v128, weights: v128): v128 {
  return f32x4.add(f32x4.mul(decays, average), f32x4.mul(f32x4.mul(weights, x), x));
}

// p − m·(stepSize·√bc2 / (√v + eps·√bc2)) per lane: PyTorch's (stepSize·m)/(√v/√bc2 + eps) with both
// sides of the fraction multiplied by √bc2, the scaled constants formed in f64. The same value with
// one division fewer: the square root and the divisions share one divider, which bounds this loop
// (measured in L1: 1.0 ns per parameter with PyTorch's two divisions, 0.7 with one). m is multiplied
// last, so a subnormal m is rounded once, after the division, not before it.
@inline function adamStep(p: v128, m: v128, v: v128, scaledSteps: v128, scaledEpsilons: v128): v128 {
  return f32x4.sub(p, f32x4.mul(m, f32x4.div(scaledSteps, f32x4.add(f32x4.sqrt(v), scaledEpsilons))));
}

// The whole vectors from element 0 for one kind of decay (constants where inlined); returns where they end.
@inline function adamVectors(
  params: usize, grads: usize, expAvg: usize, expAvgSq: usize, n: i32,
  beta1s: v128, weights1: v128, beta2s: v128, weights2: v128, scaledSteps: v128, scaledEpsilons: v128,
  decays: v128, shrinks: v128, decayParams: bool, decayGrads: bool,
): i32 {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    let p = v128.load(params + offset);
    if (decayParams) p = f32x4.mul(p, shrinks);
    let g = v128.load(grads + offset);
    if (decayGrads) g = f32x4.add(g, f32x4.mul(decays, p));
    const m = movingAverage(v128.load(expAvg + offset), g, beta1s, weights1);
    const v = movingAverageOfSquares(v128.load(expAvgSq + offset), g, beta2s, weights2);
    v128.store(expAvg + offset, m);
    v128.store(expAvgSq + offset, v);
    v128.store(params + offset, adamStep(p, m, v, scaledSteps, scaledEpsilons));
  }
  return i;
}

/**
 * PyTorch's Adam (decoupled = 0: g = grad + weightDecay·p) and AdamW (decoupled = 1: p *= 1 − lr·weightDecay
 * first); m = β1·m + (1 − β1)·g; v = β2·v + (1 − β2)·g²; p −= (lr/bc1)·m / (√v/√bc2 + eps) with
 * bc1 = 1 − β1^step, bc2 = 1 − β2^step, step counting from 1. Grads are left as they are.
 */
export function adam_update(
  params: usize, grads: usize, expAvg: usize, expAvgSq: usize, n: i32,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weightDecay: f64, decoupled: i32, step: i32,
): void {
  // The scalars come in as f64 and every constant is formed in f64, then rounded once to f32, as PyTorch
  // forms them in Python floats: 1 − β2 taken from a float32 β2 = 0.999 would be off by 1.3e-5.
  const correctionRoot = Math.sqrt(1 - Math.pow(beta2, <f64>step));
  const scaledSteps = f32x4.splat(<f32>(lr / (1 - Math.pow(beta1, <f64>step)) * correctionRoot));
  const scaledEpsilons = f32x4.splat(<f32>(eps * correctionRoot));
  const beta1s = f32x4.splat(<f32>beta1);
  const weights1 = f32x4.splat(<f32>(1 - beta1));
  const beta2s = f32x4.splat(<f32>beta2);
  const weights2 = f32x4.splat(<f32>(1 - beta2));
  const decays = f32x4.splat(<f32>weightDecay);
  const shrinks = f32x4.splat(<f32>(1 - lr * weightDecay));
  // As in PyTorch, no decay at all when weightDecay is 0: adding 0·p would turn −0 into +0 and ∞ into NaN.
  const decayGrads = weightDecay != 0 && decoupled == 0;
  const decayParams = weightDecay != 0 && decoupled != 0;
  let i = 0;
  // A loop per kind of decay, the option tests out of it.
  if (decayParams) {
    i = adamVectors(params, grads, expAvg, expAvgSq, n, beta1s, weights1, beta2s, weights2, scaledSteps, scaledEpsilons, decays, shrinks, true, false);
  } else if (decayGrads) {
    i = adamVectors(params, grads, expAvg, expAvgSq, n, beta1s, weights1, beta2s, weights2, scaledSteps, scaledEpsilons, decays, shrinks, false, true);
  } else {
    i = adamVectors(params, grads, expAvg, expAvgSq, n, beta1s, weights1, beta2s, weights2, scaledSteps, scaledEpsilons, decays, shrinks, false, false);
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    let p = f32x4.splat(load<f32>(params + offset));
    if (decayParams) p = f32x4.mul(p, shrinks);
    let g = f32x4.splat(load<f32>(grads + offset));
    if (decayGrads) g = f32x4.add(g, f32x4.mul(decays, p));
    const m = movingAverage(f32x4.splat(load<f32>(expAvg + offset)), g, beta1s, weights1);
    const v = movingAverageOfSquares(f32x4.splat(load<f32>(expAvgSq + offset)), g, beta2s, weights2);
    store<f32>(expAvg + offset, lane0(m));
    store<f32>(expAvgSq + offset, lane0(v));
    store<f32>(params + offset, lane0(adamStep(p, m, v, scaledSteps, scaledEpsilons)));
  }
}

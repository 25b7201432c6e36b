// RMSprop (PyTorch's formulas) over the whole flat parameter block: params, grads, the square average,
// the gradient average (centered only) and the momentum buffer (momentum > 0 only) share one layout.
import { movingAverage, movingAverageOfSquares } from './adam';
import { lane0 } from './vmath';

// μ·buf + g/avg per lane.
@inline function momentumStep(buffer: v128, g: v128, denominator: v128, momenta: v128): v128 {
  return f32x4.add(f32x4.mul(momenta, buffer), f32x4.div(g, denominator));
}

// p − (lr·g)/avg per lane: PyTorch's addcdiv order (avg = √(sq − ga²) + eps, or √sq + eps).
@inline function plainStep(p: v128, g: v128, denominator: v128, lrs: v128): v128 {
  return f32x4.sub(p, f32x4.div(f32x4.mul(lrs, g), denominator));
}

// The whole vectors from element 0 for one set of options (constants where inlined); returns where they end.
@inline function rmspropVectors(
  params: usize, grads: usize, squareAvg: usize, gradAvg: usize, momentumBuffer: usize, n: i32,
  lrs: v128, alphas: v128, weights: v128, epsilons: v128, decays: v128, momenta: v128,
  decay: bool, isCentered: bool, useMomentum: bool,
): i32 {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const p = v128.load(params + offset);
    let g = v128.load(grads + offset);
    if (decay) g = f32x4.add(g, f32x4.mul(decays, p));
    const sq = movingAverageOfSquares(v128.load(squareAvg + offset), g, alphas, weights);
    v128.store(squareAvg + offset, sq);
    let variance = sq;
    if (isCentered) {
      const ga = movingAverage(v128.load(gradAvg + offset), g, alphas, weights);
      v128.store(gradAvg + offset, ga);
      variance = f32x4.sub(sq, f32x4.mul(ga, ga));
    }
    const denominator = f32x4.add(f32x4.sqrt(variance), epsilons);
    if (useMomentum) {
      const buffer = momentumStep(v128.load(momentumBuffer + offset), g, denominator, momenta);
      v128.store(momentumBuffer + offset, buffer);
      v128.store(params + offset, f32x4.sub(p, f32x4.mul(lrs, buffer)));
    } else {
      v128.store(params + offset, plainStep(p, g, denominator, lrs));
    }
  }
  return i;
}

/**
 * PyTorch's RMSprop: g = grad + weightDecay·p; sq = α·sq + (1 − α)·g²; centered: ga = α·ga + (1 − α)·g and
 * avg = √(sq − ga²) + eps, else avg = √sq + eps; momentum μ > 0: buf = μ·buf + g/avg, p −= lr·buf;
 * else p −= lr·g/avg. gradAvg is 0 unless centered, momentumBuffer 0 unless μ > 0. Grads are left as they are.
 */
export function rmsprop_update(
  params: usize, grads: usize, squareAvg: usize, gradAvg: usize, momentumBuffer: usize, n: i32,
  lr: f64, alpha: f64, eps: f64, weightDecay: f64, momentum: f64, centered: i32,
): void {
  // Constants formed in f64 and rounded once to f32, as PyTorch forms them in Python floats.
  const lrs = f32x4.splat(<f32>lr);
  const alphas = f32x4.splat(<f32>alpha);
  const weights = f32x4.splat(<f32>(1 - alpha));
  const epsilons = f32x4.splat(<f32>eps);
  const decays = f32x4.splat(<f32>weightDecay);
  const momenta = f32x4.splat(<f32>momentum);
  const decay = weightDecay != 0;
  const isCentered = centered != 0;
  const useMomentum = momentum > 0;
  let i = 0;
  // A loop per set of options (decay, centered, momentum as bits 0, 1, 2), the option tests out of it.
  switch ((decay ? 1 : 0) | (isCentered ? 2 : 0) | (useMomentum ? 4 : 0)) {
    case 0: i = rmspropVectors(params, grads, squareAvg, gradAvg, momentumBuffer, n, lrs, alphas, weights, epsilons, decays, momenta, false, false, false); break;
    case 1: i = rmspropVectors(params, grads, squareAvg, gradAvg, momentumBuffer, n, lrs, alphas, weights, epsilons, decays, momenta, true, false, false); break;
    case 2: i = rmspropVectors(params, grads, squareAvg, gradAvg, momentumBuffer, n, lrs, alphas, weights, epsilons, decays, momenta, false, true, false); break;
    case 3: i = rmspropVectors(params, grads, squareAvg, gradAvg, momentumBuffer, n, lrs, alphas, weights, epsilons, decays, momenta, true, true, false); break;
    case 4: i = rmspropVectors(params, grads, squareAvg, gradAvg, momentumBuffer, n, lrs, alphas, weights, epsilons, decays, momenta, false, false, true); break;
    case 5: i = rmspropVectors(params, grads, squareAvg, gradAvg, momentumBuffer, n, lrs, alphas, weights, epsilons, decays, momenta, true, false, true); break;
    case 6: i = rmspropVectors(params, grads, squareAvg, gradAvg, momentumBuffer, n, lrs, alphas, weights, epsilons, decays, momenta, false, true, true); break;
    case 7: i = rmspropVectors(params, grads, squareAvg, gradAvg, momentumBuffer, n, lrs, alphas, weights, epsilons, decays, momenta, true, true, true); break;
  }
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    const p = f32x4.splat(load<f32>(params + offset));
    let g = f32x4.splat(load<f32>(grads + offset));
    if (decay) g = f32x4.add(g, f32x4.mul(decays, p));
    const sq = movingAverageOfSquares(f32x4.splat(load<f32>(squareAvg + offset)), g, alphas, weights);
    store<f32>(squareAvg + offset, lane0(sq));
    let variance = sq;
    if (isCentered) {
      const ga = movingAverage(f32x4.splat(load<f32>(gradAvg + offset)), g, alphas, weights);
      store<f32>(gradAvg + offset, lane0(ga));
      variance = f32x4.sub(sq, f32x4.mul(ga, ga));
    }
    const denominator = f32x4.add(f32x4.sqrt(variance), epsilons);
    if (useMomentum) {
      const buffer = momentumStep(f32x4.splat(load<f32>(momentumBuffer + offset)), g, denominator, momenta);
      store<f32>(momentumBuffer + offset, lane0(buffer));
      store<f32>(params + offset, lane0(f32x4.sub(p, f32x4.mul(lrs, buffer))));
    } else {
      store<f32>(params + offset, lane0(plainStep(p, g, denominator, lrs)));
    }
  }
}

// Binary cross-entropy over n float32 elements, on probabilities and on logits. Both return the mean
// loss (per-element terms in float32, summed in float64) and write its gradient.
import { accumulateF64, lane0, negativeMagnitude, subtractF64, sumLanes, vexpBelow88, vlog, vlogNormal, vsigmoid } from './vmath';

// −(y·max(log p, −100) + (1 − y)·max(log(1 − p), −100)) per lane.
@inline function bceLoss(p: v128, y: v128): v128 {
  const one = f32x4.splat(1);
  const floor = f32x4.splat(-100);
  const logP = f32x4.pmax(vlog(p), floor);
  const logQ = f32x4.pmax(vlog(f32x4.sub(one, p)), floor);
  return f32x4.neg(f32x4.add(f32x4.mul(y, logP), f32x4.mul(f32x4.sub(one, y), logQ)));
}

// (p − y)/max(p(1 − p), 1e-12)·scale per lane.
@inline function bceGrad(p: v128, y: v128, scale: v128): v128 {
  const variance = f32x4.pmax(f32x4.mul(p, f32x4.sub(f32x4.splat(1), p)), f32x4.splat(1e-12));
  return f32x4.mul(f32x4.div(f32x4.sub(p, y), variance), scale);
}

/**
 * Loss = mean of −(y·max(log p, −100) + (1−y)·max(log(1−p), −100)) — PyTorch's clamp, so log never
 * sees 0; grad = (p − y)/max(p(1 − p), 1e-12)/n.  "="
 */
export function bce(grad: usize, probs: usize, targets: usize, n: i32): f64 {
  const scale = f32x4.splat(1 / <f32>n);
  let sums = f64x2.splat(0);
  let i = 0;
  // Two vectors a step: their independent logs overlap (about 15% faster over 100 values).
  for (; i + 8 <= n; i += 8) {
    const offset = <usize>i << 2;
    const p0 = v128.load(probs + offset);
    const y0 = v128.load(targets + offset);
    const p1 = v128.load(probs + offset, 16);
    const y1 = v128.load(targets + offset, 16);
    v128.store(grad + offset, bceGrad(p0, y0, scale));
    v128.store(grad + offset, bceGrad(p1, y1, scale), 16);
    const ones0 = f32x4.eq(y0, f32x4.splat(1));
    const ones1 = f32x4.eq(y1, f32x4.splat(1));
    const q0 = v128.bitselect(p0, f32x4.sub(f32x4.splat(1), p0), ones0);
    const q1 = v128.bitselect(p1, f32x4.sub(f32x4.splat(1), p1), ones1);
    if (v128.all_true<i32>(v128.and(fastLanes(y0, q0, ones0), fastLanes(y1, q1, ones1)))) {
      sums = subtractF64(subtractF64(sums, vlogNormal(q0)), vlogNormal(q1));
    } else {
      sums = bceVector(sums, grad + offset, probs + offset, targets + offset, scale);
      sums = bceVector(sums, grad + offset + 16, probs + offset + 16, targets + offset + 16, scale);
    }
  }
  if (i + 4 <= n) {
    const offset = <usize>i << 2;
    sums = bceVector(sums, grad + offset, probs + offset, targets + offset, scale);
    i += 4;
  }
  let loss = sumLanes(sums);
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    const p = f32x4.splat(load<f32>(probs + offset));
    const y = f32x4.splat(load<f32>(targets + offset));
    store<f32>(grad + offset, lane0(bceGrad(p, y, scale)));
    loss += <f64>lane0(bceLoss(p, y));
  }
  return loss / <f64>n;
}

// Four elements of bce: writes their gradient, returns the sums with their loss terms added.
@inline function bceVector(sums: v128, grad: usize, probs: usize, targets: usize, scale: v128): v128 {
  const p = v128.load(probs);
  const y = v128.load(targets);
  v128.store(grad, bceGrad(p, y, scale));
  // Four class labels (each target exactly 0 or 1, the usual case): one term is 0·(a finite clamped
  // log) = ±0, so the loss is −max(log q, −100) with q = p where y = 1 and 1 − p where y = 0. When
  // every q is also a normal float in (0, 1] (so p is in [0, 1]), log q needs none of its special
  // cases and is above the clamp (≥ −87.4): the terms are −log q, the same bits as bceLoss's, for one
  // log instead of two. They are subtracted from the sums rather than negated and added (the same).
  const ones = f32x4.eq(y, f32x4.splat(1));
  const q = v128.bitselect(p, f32x4.sub(f32x4.splat(1), p), ones);
  return v128.all_true<i32>(fastLanes(y, q, ones)) ? subtractF64(sums, vlogNormal(q)) : accumulateF64(sums, bceLoss(p, y));
}

// The lanes where y is a label (`ones` marks y = 1) and q a normal float in (0, 1].
@inline function fastLanes(y: v128, q: v128, ones: v128): v128 {
  return v128.and(v128.or(ones, f32x4.eq(y, f32x4.splat(0))),
    v128.and(f32x4.ge(q, f32x4.splat(1.17549435e-38)), f32x4.le(q, f32x4.splat(1))));
}

// max(z, 0) − z·y + log(1 + e^−|z|) per lane: never overflows, whatever z.
@inline function logitsLoss(z: v128, y: v128): v128 {
  const softplus = vlog(f32x4.add(f32x4.splat(1), vexpBelow88(negativeMagnitude(z))));
  return f32x4.add(f32x4.sub(f32x4.max(z, f32x4.splat(0)), f32x4.mul(z, y)), softplus);
}

/** Loss = mean of max(z,0) − z·y + log(1 + e^−|z|), stable for any z; grad = (σ(z) − y)/n.  "=" */
export function bce_with_logits(grad: usize, logits: usize, targets: usize, n: i32): f64 {
  const inverseN: f32 = 1 / <f32>n;
  const inverseNs = f32x4.splat(inverseN);
  let sums = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const z = v128.load(logits + offset);
    const y = v128.load(targets + offset);
    v128.store(grad + offset, f32x4.mul(f32x4.sub(vsigmoid(z), y), inverseNs));
    sums = accumulateF64(sums, logitsLoss(z, y));
  }
  let loss = sumLanes(sums);
  for (; i < n; i++) {
    const offset = <usize>i << 2;
    const z = f32x4.splat(load<f32>(logits + offset));
    const y = f32x4.splat(load<f32>(targets + offset));
    store<f32>(grad + offset, lane0(f32x4.mul(f32x4.sub(vsigmoid(z), y), inverseNs)));
    loss += <f64>lane0(logitsLoss(z, y));
  }
  return loss / <f64>n;
}
